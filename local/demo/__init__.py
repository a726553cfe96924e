"""`baton demo`: the main job over a bucket (`bucket_walk`) and the input tasks (`input_tasks`) on
the local stack, followed and checked (`watch`), with the sample inputs they write
(`sample_inputs`) and the action the workers run (`actions`).

This `__init__` imports nothing: every worker imports `actions` through it.
"""
