# Inputs of the FunctionGraph deployment. No variable here carries an access key, a secret key
# or a token: the function signs its SDRS requests with its agency's temporary credentials.

# --- where ----------------------------------------------------------------------------------------

variable "region" {
  type        = string
  description = "Region of the function, and of the SDRS protection groups it cleans (SDRS_REGION), e.g. cn-north-4."

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]{1,3}$", var.region))
    error_message = "The region must look like cn-north-4 or ap-southeast-3."
  }
}

variable "iam_project_name" {
  type        = string
  default     = ""
  description = "IAM project the agency's SDRS role is granted in; empty: the region's default project (named as the region)."
}

variable "project_id" {
  type        = string
  default     = ""
  description = "HUAWEICLOUD_SDK_PROJECT_ID: the project a request naming none is for; empty: the function's own project (the context's)."

  validation {
    condition     = var.project_id == "" || can(regex("^[0-9a-f]{32}$", var.project_id))
    error_message = "The project id is 32 lowercase hexadecimal characters (or empty)."
  }
}

variable "sdrs_endpoint" {
  type        = string
  default     = ""
  description = "SDRS_ENDPOINT: an explicit https endpoint (another cloud, a proxy); wins over the region's. Empty: https://sdrs.{region}.myhuaweicloud.com."

  validation {
    condition     = var.sdrs_endpoint == "" || can(regex("^https://[^/?#@]+$", var.sdrs_endpoint))
    error_message = "The endpoint is https://host[:port], with no path (or empty)."
  }
}

variable "allowed_endpoint_suffixes" {
  type        = string
  default     = ""
  description = "SDRS_ALLOWED_ENDPOINT_SUFFIXES: domains the endpoint must be under, comma-separated; empty: the function's default (myhuaweicloud.com)."
}

# --- what -----------------------------------------------------------------------------------------

variable "server_group_ids" {
  type        = string
  default     = ""
  description = "SDRS_SERVER_GROUP_IDS: the protection groups a timer without a request cleans, comma-separated; or all: each such run sweeps every group of the project."

  validation {
    condition     = var.server_group_ids == "all" || can(regex("^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?(,[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})*$", var.server_group_ids))
    error_message = "Comma-separated protection group ids (UUIDs, no spaces), all, or empty."
  }
}

variable "dry_run" {
  type        = bool
  default     = false
  description = "SDRS_DRY_RUN: true: every invocation only lists failed tasks and deletes nothing (try it out first)."
}

variable "max_failed_tasks" {
  type        = number
  default     = 2000
  description = "SDRS_MAX_FAILED_TASKS: the safety brake; a run that would delete more failed tasks deletes none."

  validation {
    condition     = var.max_failed_tasks >= 0 && var.max_failed_tasks <= 1000000 && floor(var.max_failed_tasks) == var.max_failed_tasks
    error_message = "A whole number from 0 to 1000000."
  }
}

variable "max_concurrency" {
  type        = number
  default     = 16
  description = "SDRS_MAX_CONCURRENCY: SDRS requests one invocation keeps in flight at most."

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 32 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "A whole number from 1 to 32: more threads only queue for the interpreter lock (BENCHMARKS.md)."
  }
}

# --- the function ---------------------------------------------------------------------------------

variable "function_name" {
  type        = string
  default     = "sdrs-cleanup"
  description = "Name of the function (2 to 60 letters, digits, _ or -, starting with a letter)."

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,58}[A-Za-z0-9]$", var.function_name))
    error_message = "2 to 60 letters, digits, underscores or hyphens; starts with a letter, ends with a letter or digit."
  }
}

variable "package_path" {
  type        = string
  default     = ""
  description = "The code package built by make functiongraph-package; empty: build/functiongraph.zip of this repository."
}

variable "memory_size" {
  type        = number
  default     = 512
  description = "Memory in MB. 512 leaves room for the import and 16 requests in flight; give sweeps of big projects 1024."

  validation {
    # The values the FunctionGraph API reference ("Creating a Function", memory_size) enumerates.
    condition     = contains([128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096], var.memory_size)
    error_message = "One of 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584 or 4096."
  }
}

variable "timeout" {
  type        = number
  default     = 300
  description = "Timeout in seconds. The function stops starting groups when the time left no longer covers their calls, so a run never needs all of it."

  validation {
    # The provider documents 3 to 259200; above 900 s FunctionGraph needs the quota raised.
    condition     = var.timeout >= 3 && var.timeout <= 259200 && floor(var.timeout) == var.timeout
    error_message = "A whole number of seconds from 3 to 259200."
  }
}

variable "max_instance_num" {
  type        = number
  default     = 3
  description = "Instances of the function at most (the provider's max_instance_num; FunctionGraph v2): caps concurrent runs, as the SAM stack's reserved concurrency does. -1: no limit; 0 disables the function."

  validation {
    condition     = var.max_instance_num >= -1 && var.max_instance_num <= 1000 && floor(var.max_instance_num) == var.max_instance_num
    error_message = "A whole number from -1 to 1000."
  }
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags of the function."
}

# --- permissions ----------------------------------------------------------------------------------

variable "agency_name" {
  type        = string
  default     = "sdrs-cleanup-functiongraph"
  description = "Name of the agency FunctionGraph (op_svc_cff) assumes for the function."
}

variable "agency_additional_roles" {
  type        = list(string)
  default     = []
  description = "System roles granted to the agency besides the custom SDRS role, in the same project. Leave empty: only if IAM or SDRS refuses the custom role's actions (see main.tf), set [\"SDRS Administrator\"], SDRS's only documented role, which allows every SDRS operation."
}

# --- the triggers ---------------------------------------------------------------------------------

variable "timer_name" {
  type        = string
  default     = "sdrs-cleanup-schedule"
  description = "Name of the TIMER trigger (1 to 64 letters, digits, - or _, starting with a letter)."

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,63}$", var.timer_name))
    error_message = "1 to 64 letters, digits, hyphens or underscores, starting with a letter."
  }
}

variable "timer_schedule_type" {
  type        = string
  default     = "Rate"
  description = "Rate (a fixed rate: minutes up to 60m, hours up to 24h, days up to 30d) or Cron (a cron expression)."

  validation {
    condition     = contains(["Rate", "Cron"], var.timer_schedule_type)
    error_message = "Rate or Cron."
  }
}

variable "timer_schedule" {
  type        = string
  default     = "1h"
  description = "The schedule: for Rate, e.g. 30m, 1h, 1d; for Cron, FunctionGraph's cron syntax, e.g. 0 15 2 * * ? or @every 1h30m."
}

variable "timer_user_event" {
  type        = string
  default     = ""
  description = "The TIMER event's user_event: empty (or text that is not JSON) cleans SDRS_SERVER_GROUP_IDS; a direct request as JSON, e.g. {\"server_group_ids\": [\"...\"]} or {\"all_server_groups\": true}, is run as such."
}

variable "timer_status" {
  type        = string
  default     = "ACTIVE"
  description = "ACTIVE, or DISABLED to stop the schedule without removing it."

  validation {
    condition     = contains(["ACTIVE", "DISABLED"], var.timer_status)
    error_message = "ACTIVE or DISABLED."
  }
}

variable "smn_topic_urns" {
  type        = list(string)
  default     = []
  description = "SMN topics whose messages (direct requests, or Cloud Eye alarms about protection groups) invoke the function: one SMN trigger each. Empty: no SMN trigger."

  validation {
    condition     = alltrue([for urn in var.smn_topic_urns : can(regex("^urn:smn:[a-z0-9-]+:[0-9a-f]{32}:[A-Za-z0-9_-]+$", urn))])
    error_message = "Each one an SMN topic URN: urn:smn:{region}:{project id}:{topic name}."
  }
}

# --- logs -----------------------------------------------------------------------------------------

variable "log_group_name" {
  type        = string
  default     = "sdrs-cleanup"
  description = "LTS log group the function's logs (and so the audit record of every deleted task) go to."
}

variable "log_stream_name" {
  type        = string
  default     = "sdrs-cleanup"
  description = "LTS log stream of the function, in log_group_name."
}

variable "log_retention_days" {
  type        = number
  default     = 365
  description = "How long LTS keeps the logs, and so the audit record, in days (1 to 365)."

  validation {
    condition     = var.log_retention_days >= 1 && var.log_retention_days <= 365 && floor(var.log_retention_days) == var.log_retention_days
    error_message = "A whole number of days from 1 to 365."
  }
}
