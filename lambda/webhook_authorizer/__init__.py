"""The webhook's authorizer: API Gateway asks it whether a delivery's Authorization header is the callback's
secret before the webhook function (in the VPC, with a small reserved concurrency) is ever invoked."""
