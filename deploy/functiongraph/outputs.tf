output "function_urn" {
  description = "URN of the function, for invoking it and for its triggers."
  value       = huaweicloud_fgs_function.sdrs_cleanup.urn
}

output "function_name" {
  description = "Name of the function."
  value       = huaweicloud_fgs_function.sdrs_cleanup.name
}

output "agency_name" {
  description = "The agency the function signs its SDRS requests with."
  value       = huaweicloud_identity_agency.function.name
}

output "sdrs_role_name" {
  description = "The custom role (SDRS actions) granted to the agency."
  value       = huaweicloud_identity_role.sdrs_cleanup.name
}

output "timer_trigger_id" {
  description = "ID of the TIMER trigger."
  value       = huaweicloud_fgs_function_trigger.timer.id
}

output "smn_trigger_ids" {
  description = "ID of the SMN trigger of each topic in smn_topic_urns."
  value       = { for urn, trigger in huaweicloud_fgs_function_trigger.smn : urn => trigger.id }
}

output "log_group_id" {
  description = "LTS log group of the function's logs and audit record."
  value       = huaweicloud_lts_group.function.id
}

output "log_stream_id" {
  description = "LTS log stream of the function."
  value       = huaweicloud_lts_stream.function.id
}
