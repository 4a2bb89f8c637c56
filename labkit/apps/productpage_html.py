"""The productpage's HTML, after the real Jinja templates (without Bootstrap's files).

Stars are Unicode inside the same glyphicon spans and <font color> the original uses,
so they show without the stylesheet and the colour is plain in the markup.
"""
from __future__ import annotations

from html import escape

STYLE = """<style>
body { font-family: "Helvetica Neue", Helvetica, Arial, sans-serif; margin: 0; }
nav { background: #222; color: #9d9d9d; padding: 0.8em 2em; display: flex; justify-content: space-between; }
nav a, nav button { color: #fff; }
.container-fluid { padding: 1em 2em; }
.row { display: flex; gap: 2em; }
.col-md-6 { flex: 1; }
.text-primary { color: #337ab7; }
.text-center { text-align: center; }
blockquote { border-left: 5px solid #eee; margin: 0 0 1em; padding: 0.5em 1em; }
</style>"""


def _nav(user: str) -> str:
    if user:
        right = f'<span>{escape(user)} ( <a href="logout">sign out</a> )</span>'
    else:
        right = ('<form method="post" action="login" name="login_form">'
                 '<input type="text" name="username" placeholder="User Name"> '
                 '<input type="password" name="passwd" placeholder="Password"> '
                 '<button type="submit">Sign in</button></form>')
    return f'<nav class="navbar navbar-inverse navbar-static-top"><a class="navbar-brand" href="#">BookInfo Sample</a>{right}</nav>'


def _document(body: str) -> str:
    return ('<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f'<title>Simple Bookstore App</title>\n{STYLE}\n</head>\n<body>\n{body}\n</body>\n</html>\n')


def _details(status: int, details: dict) -> str:
    if status == 200:
        rows = "".join(f"\n<dt>{label}:</dt>{escape(str(details.get(key, '')))}" for label, key in (
            ("Type", "type"), ("Pages", "pages"), ("Publisher", "publisher"),
            ("Language", "language"), ("ISBN-10", "ISBN-10"), ("ISBN-13", "ISBN-13")))
        return f'<h4 class="text-center text-primary">Book Details</h4>\n<dl>{rows}\n</dl>'
    return ('<h4 class="text-center text-primary">Error fetching product details!</h4>\n'
            f"<p>{escape(str(details.get('error', '')))}</p>")


def _stars(rating: dict) -> str:
    stars, color = rating.get("stars"), rating.get("color", "black")
    if isinstance(stars, int) and stars:
        stars = max(0, min(stars, 5))
        full = '<span class="glyphicon glyphicon-star">&#9733;</span>' * stars
        empty = '<span class="glyphicon glyphicon-star-empty">&#9734;</span>' * (5 - stars)
        return f'\n<font color="{escape(str(color))}">{full}{empty}</font>'
    if rating.get("error"):
        return f"\n<p><i>{escape(str(rating['error']))}</i></p>"
    return ""


def _reviews(status: int, reviews: dict) -> str:
    if status != 200:
        return ('<h4 class="text-center text-primary">Error fetching product reviews!</h4>\n'
                f"<p>{escape(str(reviews.get('error', '')))}</p>")
    parts = ['<h4 class="text-center text-primary">Book Reviews</h4>']
    for review in reviews.get("reviews", []):
        rating = review.get("rating")
        parts.append(f"<blockquote>\n<p>{escape(str(review.get('text', '')))}</p>\n"
                     f"<small>{escape(str(review.get('reviewer', '')))}</small>"
                     f"{_stars(rating) if isinstance(rating, dict) else ''}\n</blockquote>")
    podname = reviews.get("podname")
    if podname:
        served = f"Reviews served by: <u>{escape(str(podname))}</u>"
        cluster = reviews.get("clustername")
        if cluster and cluster != "null":
            served += f" on cluster <u>{escape(str(cluster))}</u>"
        parts.append(f"<dl><dt>{served}</dt></dl>")
    return "\n".join(parts)


def product_page(product: dict, details_status: int, details: dict,
                 reviews_status: int, reviews: dict, user: str) -> str:
    # descriptionHtml is our own constant markup, rendered unescaped as in the original.
    body = (f"{_nav(user)}\n<div class=\"container-fluid\">\n"
            f"<div class=\"row\"><div class=\"col-md-12\">\n"
            f"<h3 class=\"text-center text-primary\">{escape(product['title'])}</h3>\n"
            f"<p>Summary: {product['descriptionHtml']}</p>\n</div></div>\n"
            f"<div class=\"row\">\n<div class=\"col-md-6\">\n{_details(details_status, details)}\n</div>\n"
            f"<div class=\"col-md-6\">\n{_reviews(reviews_status, reviews)}\n</div>\n</div>\n</div>")
    return _document(body)


def index_page(services: list[tuple[str, str]]) -> str:
    rows = "\n".join(f"<tr><td>{escape(name)}</td><td>{escape(url)}</td></tr>" for name, url in services)
    body = ('<div class="container-fluid">\n<h3>Hello! This is a simple bookstore application consisting of '
            'three services as shown below</h3>\n'
            f'<table class="table table-condensed table-bordered table-hover">\n<tr><th>name</th><th>endpoint</th></tr>\n'
            f'{rows}\n</table>\n<p><h4>Click on one of the links below to auto generate a request to the backend '
            'as a real user or a tester</h4></p>\n'
            '<p><a href="/productpage?u=normal">Normal user</a></p>\n'
            '<p><a href="/productpage?u=test">Test user</a></p>\n</div>')
    return _document(body)
