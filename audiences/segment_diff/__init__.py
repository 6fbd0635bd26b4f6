"""`audiences diff`: what a pull request changes in segment membership.

The pull request's segments are built next to production (``dbt build --select
state:modified+ --defer --state``, in schemas of their own) and the two
``segment_memberships`` tables are compared in SQL in the warehouse. See
docs/pull-requests.md.
"""
