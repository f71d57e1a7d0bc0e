"""Running a site safely (SPEC §8.1-§8.3, §6 resolution codes): disablements, walk tests,
shelving, silences, maintenance windows, grouping, emergencies and their plans.

One module per idea; `gate` is where they meet the incident service (signals) and the
notifier (routes). Imports: rules.incidents, rules.db, rules.engine, devices.
"""
