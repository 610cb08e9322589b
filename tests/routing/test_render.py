"""The pure nginx render: what server names and certificates become, and what is never trusted."""
from __future__ import annotations

from pathlib import Path

from app_layer.routing.nginx import Cert, RouterConfig, render, tls_hosts
from app_layer.routing.registry import Route
from app_layer.routing.router import endpoint_table

CFG = RouterConfig(prefix=Path("/srv/router"), domain="example.test", http_port=80, tls_port=443, user="www")


def test_render_is_stable_and_maps_hosts_to_apps() -> None:
    text = render([("www.shop.test", "shop")], [], CFG)
    assert text == render([("www.shop.test", "shop")], [], CFG)
    assert "www.shop.test shop;" in text
    assert "app-layer.example.test app-layer;" in text and "deis.example.test app-layer;" in text
    assert "ssl_certificate" not in text  # no certificate: no TLS server


def test_user_supplied_names_never_reach_the_config_unchecked() -> None:
    text = render([('evil.test; } server { listen 1', "shop"), ("ok.test", "bad app;"), ("x.example.test", "a")],
                  [Cert('x"; include /etc/passwd; "', "c", "k")], CFG)
    assert "evil" not in text and "bad app" not in text and "passwd" not in text
    assert "x.example.test a;" not in text  # platform subdomains always belong to the app of that name


def test_certificates_match_by_name_and_redirect_to_https() -> None:
    exact, wild = Cert("www.shop.test", "C1", "K1"), Cert("*.shop.test", "C2", "K2")
    domains = [("www.shop.test", "shop"), ("api.shop.test", "shop"), ("deep.api.shop.test", "shop"),
               ("other.test", "blog")]
    assert tls_hosts(domains, [wild, exact]) == {"www.shop.test": exact, "api.shop.test": wild}
    text = render(domains, [exact, wild], CFG)
    assert "server_name api.shop.test;" in text and "server_name www.shop.test;" in text
    assert "    www.shop.test 1;" in text and "other.test 1;" not in text
    assert "return 301 https://$host$request_uri;" in text  # port 443: no port in the redirect
    platform = render([], [], RouterConfig(prefix=Path("/r"), domain="example.test", tls_port=8443, user="www",
                                           platform_cert=Cert("*.example.test", "C", "K")))
    assert "listen 127.0.0.1:8443 ssl default_server;" in platform
    assert "return 301 https://$host:8443$request_uri;" in platform


def test_endpoint_table() -> None:
    routes = [Route("shop", "web", 2, "10.0.0.2", 5002, 3), Route("shop", "web", 1, "10.0.0.1", 5001, 3)]
    assert endpoint_table(routes, "127.0.0.1:8000") == (
        "app-layer 127.0.0.1:8000\nshop 10.0.0.1:5001 10.0.0.2:5002\n")


def test_access_log_can_be_turned_off() -> None:
    assert "access_log /srv/router/logs/access.log" in render([], [], CFG)
    quiet = RouterConfig(prefix=Path("/srv/router"), domain="example.test", user="www", access_log=False)
    assert "access_log off;" in render([], [], quiet)
