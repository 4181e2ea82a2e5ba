"""Monthly on-demand cost of an environment, from its env file and one price table.

prices.json: list prices per region (source and date inside; scripts/refresh_prices.py rewrites it from
the AWS Price List API). prices.py reads it; estimate.py turns an EnvConfig into priced lines. Pure
Python (no cdktf/jsii): `python main.py cost` and `describe` answer instantly.
"""
