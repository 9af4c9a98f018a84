"""The web UI's pages (``/``, ``/talk``, ``/tutor``) and their assets under ``/static/``.

Pages are public: the page scripts send the API key themselves (kept in the browser's localStorage), because a
browser cannot attach an Authorization header to a plain page load.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/talk": "talk.html", "/tutor": "tutor.html"}
# no-cache: browsers revalidate (ETag), so a server upgrade never runs new HTML against old cached JavaScript
NO_CACHE = {"Cache-Control": "no-cache"}

router = APIRouter(tags=["web"], include_in_schema=False)
# StaticFiles does the path checks (no escaping the folder), ETags and 304s. It is called from a route rather than
# mounted because include_router copies routes, not mounts.
_assets = StaticFiles(directory=STATIC)


@router.get("/static/{path:path}")
async def asset(path: str, request: Request) -> Response:
    response = await _assets.get_response(path, request.scope)
    response.headers.update(NO_CACHE)
    return response


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=NO_CACHE)


for _route, _name in PAGES.items():
    router.add_api_route(_route, lambda name=_name: _page(name), methods=["GET"], include_in_schema=False)
