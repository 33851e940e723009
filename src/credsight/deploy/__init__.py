"""Running credsight inside AWS: the Lambda handler, its package, the CloudFormation templates, Athena."""
