"""People: who is on duty per department (rotas in the site's time zone) and the escalation
chain from the person on duty to the next.

Imports: devices, rules.engine (department names), rules.yaml_config.
"""
