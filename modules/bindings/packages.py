"""Where cdktf and the AWS provider bindings come from: their package names, in one place.

Renaming to CDK Terrain (cdktn) or another binding package means changing the names here
and the `from cdktf... import` lines (a sed over modules/).
"""

CDKTF_PACKAGE = "cdktf"
PROVIDER_PACKAGES = ("cdktf_cdktf_provider_aws",)
PROVIDER_NPM_PACKAGES = ("@cdktf/provider-aws",)  # the same packages' names in jsii's Node kernel
