"""The HTTP API of `keiba serve`: FastAPI on uvicorn, authenticated always (see docs/serving.md).

`keiba.serving.app` builds the application, `.routes` its routes, `.models` their typed bodies
and `.auth` the tokens, roles and throttling. What the routes read and do is built in
`keiba.app.serving`; only the command line imports this package.
"""
