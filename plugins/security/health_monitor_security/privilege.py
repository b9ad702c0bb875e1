"""Privilege changes per user-day: grants, group membership, admin actions, against the user's past."""

from __future__ import annotations

from pyspark.sql import functions as F

from health_monitor.sdk import FeatureTable, Tables
from health_monitor.sdk.featurekit import kept_days, prior_days, stored_days, zscore
from health_monitor_security.features import is_off_hours, user_audit

# system.access.audit action names that change who may do what.
PERMISSION_ACTIONS = r"(?i)(permission|grant|acl|changeOwner|setAdmin)"
GROUP_ACTIONS = r"(?i)(PrincipalToGroup|PrincipalFromGroup|createGroup)"
TOKEN_ACTIONS = r"(?i)(createToken|generateToken|createServicePrincipalSecret)"
ADMIN_GROUP = r"(?i)admin"
# How long a user's account-level (admin) activity makes them a known admin.
ADMIN_MEMORY_DAYS = 90
# What the windows of privilege_features read of the days before a row: stored by the run before.
WINDOWED = ["user_id", "event_date", "account_level_events", "privilege_actions", "denied_events"]


def privilege_features(tables: Tables):
    # The windows' days before the days kept come from the table's own rows when it has them,
    # else from Gold (ADMIN_MEMORY_DAYS, the longest window).
    history = stored_days(tables, "privilege_features", "event_date", ADMIN_MEMORY_DAYS, WINDOWED)
    audit = kept_days(user_audit(tables), tables, "event_date", history.gold_days)
    params = F.col("request_params")
    is_permission = F.col("action_name").rlike(PERMISSION_ACTIONS)
    is_group = F.col("action_name").rlike(GROUP_ACTIONS)
    is_token = F.col("action_name").rlike(TOKEN_ACTIONS)
    is_privilege = is_permission | is_group | is_token
    # The principal a grant names is in its request (e.g. changes=[{"principal": ...}]).
    names_self = F.coalesce(
        F.instr(F.coalesce(params["changes"], F.lit("")), F.col("user_id")) > 0, F.lit(False)
    )
    daily = (
        audit.groupBy("user_id", "event_date")
        .agg(
            F.sum(is_permission.cast("int")).alias("permission_changes"),
            F.sum(is_group.cast("int")).alias("group_changes"),
            F.sum(is_token.cast("int")).alias("token_events"),
            F.sum(
                (is_group & F.coalesce(params["targetGroupName"], F.lit("")).rlike(ADMIN_GROUP)).cast("int")
            ).alias("admin_group_grants"),
            F.sum((is_permission & names_self).cast("int")).alias("self_grants"),
            F.sum((is_privilege & is_off_hours()).cast("int")).alias("off_hours_privilege_events"),
            F.sum((F.col("audit_level") == "ACCOUNT_LEVEL").cast("int")).alias("account_level_events"),
            F.sum((F.col("response_status_code") == 403).cast("int")).alias("denied_events"),
            F.countDistinct("workspace_id").alias("workspaces_touched"),
        )
        .withColumn(
            "privilege_actions", F.col("permission_changes") + F.col("group_changes") + F.col("token_events")
        )
    )
    daily = history.with_stored(daily)
    w30 = prior_days("user_id", "event_date", 30)
    admin_window = prior_days("user_id", "event_date", ADMIN_MEMORY_DAYS)
    hist = daily.select(
        "*",
        F.coalesce(F.max((F.col("account_level_events") > 0).cast("int")).over(admin_window), F.lit(0)).alias(
            "is_known_admin"
        ),
        F.coalesce(F.sum("privilege_actions").over(w30), F.lit(0)).alias("privilege_actions_30d"),
        F.avg("privilege_actions").over(w30).alias("avg_privilege_30d"),
        F.stddev("privilege_actions").over(w30).alias("std_privilege_30d"),
        F.avg("denied_events").over(w30).alias("avg_denied_30d"),
    )
    return hist.select(
        "user_id",
        "event_date",
        "permission_changes",
        "group_changes",
        "token_events",
        "admin_group_grants",
        "self_grants",
        "off_hours_privilege_events",
        "account_level_events",
        "denied_events",
        "workspaces_touched",
        "privilege_actions",
        "is_known_admin",
        "privilege_actions_30d",
        (F.col("privilege_actions") * (1 - F.col("is_known_admin"))).alias("privilege_by_non_admin"),
        (F.col("admin_group_grants") * (1 - F.col("is_known_admin"))).alias("admin_grants_by_non_admin"),
        zscore(F.col("privilege_actions"), F.col("avg_privilege_30d"), F.col("std_privilege_30d")).alias(
            "privilege_z_30d"
        ),
        (F.col("denied_events") - F.coalesce("avg_denied_30d", F.lit(0.0))).alias("denied_above_30d"),
    )


PRIVILEGE_FEATURES = FeatureTable(
    name="privilege_features",
    domain="security",
    primary_keys=("user_id", "event_date"),
    timestamp_key="event_date",
    compute=privilege_features,
    description=(
        "Permission and group changes per user-day: grants to admin groups, self-grants, off-hours "
        "changes, denials, and whether the user acted as an account admin in the prior 90 days."
    ),
    sources=("fact_audit_logs",),
)
