"""One router per API surface; ``habla.server.app.ROUTERS`` lists the ones the app serves."""
