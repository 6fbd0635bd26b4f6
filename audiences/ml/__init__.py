"""Machine-learned segments (docs/ml.md): personas, purchase propensity and product
recommendations, fitted by the `audiences ml` step on features read from the warehouse and
written back into its `ml` schema, where dbt reads them as sources."""
