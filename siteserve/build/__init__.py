"""``siteserve build``: the site as plain files for any static host.

The same folder that ``siteserve`` serves, written out as files that nginx,
GitHub Pages, Netlify, Cloudflare Pages or ``python -m http.server`` serve the
same way: every file the server would serve, copied; every page rendered by the
server's own Site for each URL the site's links lead to; the not-found page;
and ``_headers``/``_redirects`` rules for the hosts that read them.

Modules, in the order a build uses them:

- ``settings``: what a build is asked to do; the site's Config and resolver as a build has them
- ``output``: the refusals, and every write inside the output folder
- ``manifest``: the marker file, and what the last build did
- ``site_files``: the site walked once (by the resolver's name rules)
- ``crawl``: which URLs to render, which to keep from the last build
- ``jobs``: what a worker is asked to do, and answers
- ``render``: one URL answered by the Site, in a worker process
- ``workers``: the processes that render (or this one)
- ``layout``, ``links``, ``redirect_page``, ``precompress``: what a page becomes
- ``host_rules``, ``rules``: ``_headers``, ``_redirects`` and ``.nojekyll``
- ``findings``, ``report``, ``progress``: what the user is told
- ``run``: ``build_site``, all of the above in order; ``cli``: the command
"""
