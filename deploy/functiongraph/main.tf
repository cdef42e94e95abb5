# sdrs-cleanup on Huawei Cloud FunctionGraph: the function, its agency and SDRS role, its log
# group, a TIMER trigger, and an SMN trigger per topic in smn_topic_urns.
# Every resource and argument is documented for provider v1.97.1 (versions.tf);
# tests/unit/test_functiongraph_terraform.py checks them against the tables taken from its docs.

locals {
  iam_project  = var.iam_project_name != "" ? var.iam_project_name : var.region
  package_path = var.package_path != "" ? var.package_path : "${path.module}/../../build/functiongraph.zip"
  package      = filebase64(local.package_path)

  # The SDRS actions the three calls need, and nothing else:
  #   GET    /v1/{project_id}/server-groups                                     (list protection groups: the `all` sweep only)
  #   GET    /v1/{project_id}/task-center/failure-jobs                          (list failed tasks: the audit before a delete)
  #   DELETE /v1/{project_id}/task-center/{server_group_id}/failure-jobs/batch  (delete one group's failed tasks)
  # UNCONFIRMED: SDRS (now BRS) documents a single system-defined role, "SDRS Administrator"
  # (RBAC, "SDRS:*:*", depending on Tenant Guest, Server Administrator and VPC Administrator),
  # and no fine-grained actions for its API, task center included. These names follow IAM's
  # service:resourceType:operation form with the API's own resource names. If IAM refuses the
  # custom role, or SDRS answers 403 to the agency, set agency_additional_roles to
  # ["SDRS Administrator"] (variables.tf): it works, and it allows every SDRS operation.
  # The list permission stays even without `all`: a direct request may ask for a sweep.
  sdrs_actions = [
    "sdrs:serverGroup:list",
    "sdrs:failureJob:list",
    "sdrs:failureJob:delete",
  ]

  # The function's settings (handler/settings.py declares each one). FunctionGraph hands them to
  # the function as user data; the function reads one there when its environment lacks it. Empty
  # values are left out, so that the function's own defaults apply. No credentials here: the
  # agency's temporary ones come with every invocation's context.
  user_data = {
    SDRS_REGION                    = var.region
    SDRS_ENDPOINT                  = var.sdrs_endpoint
    SDRS_ALLOWED_ENDPOINT_SUFFIXES = var.allowed_endpoint_suffixes
    HUAWEICLOUD_SDK_PROJECT_ID     = var.project_id
    SDRS_SERVER_GROUP_IDS          = var.server_group_ids
    SDRS_DRY_RUN                   = tostring(var.dry_run)
    SDRS_MAX_FAILED_TASKS          = tostring(var.max_failed_tasks)
    SDRS_MAX_CONCURRENCY           = tostring(var.max_concurrency)
  }
  user_data_set  = { for name, value in local.user_data : name => value if value != "" }
  user_data_json = jsonencode(local.user_data_set)
}

# --- permissions ----------------------------------------------------------------------------------

# A custom policy for region-specific projects (XA): SDRS is a project-level service.
resource "huaweicloud_identity_role" "sdrs_cleanup" {
  name        = "${var.function_name}-sdrs-failure-jobs"
  description = "sdrs-cleanup: list protection groups and failed tasks, delete a protection group's failed tasks"
  type        = "XA"
  policy = jsonencode({
    Version = "1.1"
    Statement = [
      {
        Effect = "Allow"
        Action = local.sdrs_actions
      },
    ]
  })
}

# The agency FunctionGraph assumes: its temporary credentials (context.getSecurityAccessKey,
# getSecuritySecretKey, getSecurityToken) are what the function signs with. op_svc_cff is
# FunctionGraph's account name as a delegated party (IAM: "Cloud service" agency, FunctionGraph).
# The provider reads an op_svc_* party back into an attribute of its own: after `terraform import`
# a plan shows delegated_domain_name once; applying it changes nothing.
resource "huaweicloud_identity_agency" "function" {
  name                  = var.agency_name
  description           = "FunctionGraph function ${var.function_name}: SDRS failed-task cleanup"
  delegated_domain_name = "op_svc_cff"
  duration              = "FOREVER"

  project_role {
    project = local.iam_project
    roles   = concat([huaweicloud_identity_role.sdrs_cleanup.name], var.agency_additional_roles)
  }
}

# --- logs -----------------------------------------------------------------------------------------

# The function prints JSON lines on stdout (one per event, one audit line per failed task before
# its delete, one per group result); FunctionGraph ships them to this stream.
resource "huaweicloud_lts_group" "function" {
  group_name  = var.log_group_name
  ttl_in_days = var.log_retention_days
}

resource "huaweicloud_lts_stream" "function" {
  group_id    = huaweicloud_lts_group.function.id
  stream_name = var.log_stream_name
}

# --- the function ---------------------------------------------------------------------------------

resource "huaweicloud_fgs_function" "sdrs_cleanup" {
  name                  = var.function_name
  app                   = "default"
  description           = "Deletes the failed tasks of SDRS protection groups, with an audit record (sdrs-cleanup)"
  functiongraph_version = "v2"
  runtime               = "Python3.12"
  handler               = "handler.functiongraph.handler"
  memory_size           = var.memory_size
  timeout               = var.timeout
  max_instance_num      = tostring(var.max_instance_num)

  # The package (about 10 to 12 MB) goes inline, as a ZIP: FunctionGraph takes a ZIP of up to
  # 50 MB through its API (40 MB through the console); only above that must it go through OBS
  # (code_type "obs", up to 300 MB). The provider keeps a hash of func_code in the state, not
  # the package. A new package (make functiongraph-package) is a new func_code: apply uploads it.
  code_type     = "zip"
  code_filename = "functiongraph.zip"
  func_code     = local.package

  # One agency for both configuration and execution (app_agency unset: the provider documents
  # that `agency` then serves both).
  agency    = huaweicloud_identity_agency.function.name
  user_data = local.user_data_json

  enable_lts_log  = true
  log_group_id    = huaweicloud_lts_group.function.id
  log_group_name  = huaweicloud_lts_group.function.group_name
  log_stream_id   = huaweicloud_lts_stream.function.id
  log_stream_name = huaweicloud_lts_stream.function.stream_name

  tags = var.tags

  lifecycle {
    precondition {
      # Base64 is 4/3 of the ZIP.
      condition     = length(local.package) * 3 / 4 <= 50 * 1024 * 1024
      error_message = "The package is over the 50 MB that FunctionGraph takes inline: upload it to OBS and use code_type = \"obs\" with code_url."
    }
    precondition {
      condition     = length(local.user_data_set) <= 20 && length(local.user_data_json) <= 4096
      error_message = "FunctionGraph's user data holds at most 20 keys and 4096 characters: shorten server_group_ids (or use all)."
    }
  }
}

# --- the triggers ---------------------------------------------------------------------------------

# The schedule. FunctionGraph invokes the function with
#   {"version": "v1.0", "time": "...", "trigger_type": "TIMER", "trigger_name": "<name>", "user_event": "<user_event>"}
# An empty user_event cleans SDRS_SERVER_GROUP_IDS (or sweeps, with `all`); a JSON object is a
# direct request.
resource "huaweicloud_fgs_function_trigger" "timer" {
  function_urn = huaweicloud_fgs_function.sdrs_cleanup.urn
  type         = "TIMER"
  status       = var.timer_status
  event_data = jsonencode({
    name          = var.timer_name
    schedule_type = var.timer_schedule_type
    schedule      = var.timer_schedule
    user_event    = var.timer_user_event
  })
}

# One SMN trigger per topic, none by default. Each message published to the topic (a direct
# request as JSON, or a Cloud Eye alarm about a protection group) invokes the function; the
# platform delivers it, so there is no signature to check. Subscribing is FunctionGraph's doing.
resource "huaweicloud_fgs_function_trigger" "smn" {
  for_each = toset(var.smn_topic_urns)

  function_urn = huaweicloud_fgs_function.sdrs_cleanup.urn
  type         = "SMN"
  event_data = jsonencode({
    topic_urn = each.value
  })
}
