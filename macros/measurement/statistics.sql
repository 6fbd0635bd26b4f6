{#- Statistics for the measurement marts (docs/decisions/0010-segment-lift-method.md).
    Plain arithmetic, exp and sqrt only, so every engine computes the same numbers. -#}

{#- Two-sided p-value of a standard normal statistic z: 2 * (1 - Phi(|z|)), with Phi from
    Abramowitz & Stegun 26.2.17 (absolute error of Phi below 7.5e-8, so of the p-value below
    1.5e-7). Null when z is null. -#}
{% macro normal_two_sided_p_value(z) -%}
    (2.0 * exp(-0.5 * ({{ z }}) * ({{ z }})) / 2.5066282746310002
        * {{ _normal_tail_polynomial('(1.0 / (1.0 + 0.2316419 * abs(' ~ z ~ ')))') }})
{%- endmacro %}

{% macro _normal_tail_polynomial(t) -%}
    ({{ t }} * (0.319381530 + {{ t }} * (-0.356563782 + {{ t }} * (1.781477937
        + {{ t }} * (-1.821255978 + {{ t }} * 1.330274429)))))
{%- endmacro %}

{#- The two-sided 95 % critical value of the standard normal distribution. -#}
{% macro normal_critical_95() -%}1.959963984540054{%- endmacro %}
