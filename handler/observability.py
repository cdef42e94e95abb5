"""The one Powertools logger every module logs through (JSON on stdout in Lambda)."""

import os

from aws_lambda_powertools import Logger

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "sdrs-cleanup")
logger = Logger(service=SERVICE)
