"""moto's server for DynamoDB and S3 in a child process (`moto_server`), its keep-alive request
handler (`keep_alive`), and the loopback proxy that loses some of DynamoDB's answers
(`lossy_proxy`).

This `__init__` imports nothing: the moto child process imports the package on its way to
`moto_server`.
"""
