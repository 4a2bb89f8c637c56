"""The files of the stock nginx image that nginx reads: its config, the welcome page.

As in the official image (docker-nginx, mainline debian): /etc/nginx/nginx.conf includes
/etc/nginx/conf.d/*.conf, whose default.conf serves /usr/share/nginx/html on port 80. A ConfigMap
mounted at /etc/nginx (Istio's SNI passthrough task) replaces all of /etc/nginx.
"""
from __future__ import annotations

WELCOME = """<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""

FIFTY_X = """<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
"""

NGINX_CONF = """
user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;


events {
    worker_connections  1024;
}


http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;

    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    access_log  /var/log/nginx/access.log  main;

    sendfile        on;

    keepalive_timeout  65;

    include /etc/nginx/conf.d/*.conf;
}
"""

DEFAULT_CONF = """server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
"""

MIME_TYPES = """types {
    text/html                                        html htm shtml;
    text/css                                         css;
    text/xml                                         xml;
    application/javascript                           js;
    application/json                                 json;
    text/plain                                       txt;
    image/png                                        png;
    image/svg+xml                                    svg svgz;
    image/x-icon                                     ico;
}
"""

STOCK_FILES: dict[str, bytes] = {
    "/etc/nginx/nginx.conf": NGINX_CONF.lstrip().encode(),
    "/etc/nginx/conf.d/default.conf": DEFAULT_CONF.encode(),
    "/etc/nginx/mime.types": MIME_TYPES.encode(),
    "/usr/share/nginx/html/index.html": WELCOME.encode(),
    "/usr/share/nginx/html/50x.html": FIFTY_X.encode(),
}
