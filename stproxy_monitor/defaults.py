"""Defaults and choices shared by the config and the commands that run without one (`cert`,
`--help`).

Constants only, no imports: `cert` on one file is run by cron and Nagios every few minutes and
should not pay for importing the config module (its loader, validation and probe settings).
"""

# The topic (bundle id) an APNs certificate must be for: Sametime's app (config expected_topic,
# `cert --expected-topic`).
DEFAULT_EXPECTED_TOPIC = "com.ibm.lotus.sametime"
# How an all-numeric date is read when the log alone cannot tell (logs[].date_order, the choices
# of `scan --date-order`).
DATE_ORDERS = ("MDY", "DMY", "YMD")
