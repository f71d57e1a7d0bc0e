"""People: who is on duty per department (rotas in the site's time zone) and the escalation
chain from the person on duty to the next; paging that chain through the notification routes,
signed single-use acknowledge and rating links, ticket requesters and their ratings.

Imports: devices, rules.engine (department names), rules.yaml_config, rules.db,
rules.incidents, rules.notify.
"""
