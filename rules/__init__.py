"""Automation rules: *when* a domain event, *if* conditions, *then* actions, taken by the hub itself.

A consumer of the event stream (registered in apps.py), never called by the services that change things:
`services.rules_take` queues one `RuleRun` per enabled rule and event, after commit, at least once;
`services.rule_runs_process` evaluates and applies them in rule order. docs/rules.md is the admin's guide.
"""
