"""What every CloudFormation custom resource of the function zip shares: the answer to CloudFormation."""
