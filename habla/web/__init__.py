"""The browser UI served by ``habla serve``: static pages under ``static/``, no build step, no CDN."""
