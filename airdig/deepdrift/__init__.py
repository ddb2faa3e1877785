"""DeepDrift: drift between Terraform state and the live cloud, attributed through CloudTrail.

    result = detect(DetectOptions(states=["prod.tfstate"], cloudtrail=["./trail"]))
    for drift in result.drifts: print(drift["kind"], drift["terraform_address"])
"""
