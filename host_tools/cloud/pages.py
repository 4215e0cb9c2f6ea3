"""The pages a person opens in a browser: the device-flow approval page (RFC 8628 §3.3) and
Speckle's app-authorization page. Both ask for the device owner's name and password, like a
real cloud's login, and never show or log a token."""

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2.rfc6749.errors import OAuth2Error

from .oauth import CloudRequest, decide_user_code
from .records import find_client
from .web import Response, form_fields, html_response, redirect

STYLE = (
    "body{font:16px system-ui,sans-serif;max-width:32em;margin:3em auto;color:#222}"
    "input{font:inherit;margin:.2em 0 .8em;padding:.3em;width:100%}"
    "button{font:inherit;padding:.4em 1.2em;margin-right:1em}.err{color:#b00}"
)


def _page(title, body, status=200):
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return html_response(status, html, [("Cache-Control", "no-store")])


def _login_form(action, hidden, message=""):
    fields = "".join(
        f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in hidden.items()
    )
    note = f"<p class='err'>{escape(message)}</p>" if message else ""
    return (
        f"{note}<form method='post' action='{escape(action)}'>{fields}"
        "<label>Device name<input name='username' autocomplete='username'></label>"
        "<label>Password<input name='password' type='password'></label>"
        "<button name='decision' value='approve'>Approve</button>"
        "<button name='decision' value='deny'>Deny</button></form>"
    )


def home(cloud, request):
    return redirect("/dashboard")


def device_page(cloud, request):
    user_code = request.query.get("user_code", [""])[0]
    form = (
        "<form method='post' action='/device'>"
        f"<label>Code shown by the device<input name='user_code' value='{escape(user_code)}'>"
        "</label><label>Device name<input name='username'></label>"
        "<label>Password<input name='password' type='password'></label>"
        "<button name='decision' value='approve'>Approve</button>"
        "<button name='decision' value='deny'>Deny</button></form>"
    )
    return _page("Connect a tempnode device", form)


def device_decide(cloud, request):
    fields = form_fields(request)
    device = cloud.oauth.login_device(fields.get("username", ""), fields.get("password", ""))
    if device is None:
        return _page(
            "Connect a tempnode device", "<p class='err'>Wrong name or password.</p>", 400
        )
    approve = fields.get("decision") == "approve"
    try:
        decide_user_code(cloud.oauth, fields.get("user_code", ""), approve, device.id)
    except ValueError as exc:
        return _page("Connect a tempnode device", f"<p class='err'>{escape(str(exc))}</p>", 400)
    outcome = "is now connected" if approve else "was not connected"
    return _page("Done", f"<p>{escape(device.id)} {outcome}. You can close this page.</p>")


def verify_page(cloud, request):
    """Speckle's `/authn/verify/{appId}/{challenge}`: log in and allow the app."""
    app_id = request.route["app_id"]
    if find_client(cloud.store, app_id) is None:
        return _page("Authorize an app", "<p class='err'>Unknown app.</p>", 404)
    return _page(f"Allow {app_id}?", _login_form(request.path, {}))


def verify_decide(cloud, request):
    app_id, challenge = request.route["app_id"], request.route["challenge"]
    fields = form_fields(request)
    client = find_client(cloud.store, app_id)
    if client is None:
        return _page("Authorize an app", "<p class='err'>Unknown app.</p>", 404)
    device = cloud.oauth.login(fields.get("username", ""), fields.get("password", ""), client)
    if device is None:
        form = _login_form(request.path, {}, "Wrong name or password.")
        return _page(f"Allow {app_id}?", form, 400)
    oauth_request = CloudRequest(
        "GET",
        cloud.base_url + request.path,
        request.headers,
        {
            "response_type": "code",
            "client_id": app_id,
            "code_challenge": challenge,
            "code_challenge_method": "plain",  # Speckle compares the challenge as is
        },
    )
    try:
        grant = cloud.oauth.get_consent_grant(oauth_request, end_user=device)
    except OAuth2Error as error:
        return _page(
            "Authorize an app",
            f"<p class='err'>{escape(error.description or error.error)}</p>",
            400,
        )
    approved = device if fields.get("decision") == "approve" else None
    status, _, headers = cloud.oauth.create_authorization_response(
        oauth_request, grant_user=approved, grant=grant
    )
    return Response(303 if status == 302 else status, b"", _speckle_location(headers))


def _speckle_location(headers):
    """authlib redirects with `code=`; Speckle's apps expect `access_code=`."""
    out = []
    for name, value in headers:
        if name == "Location":
            parts = urlsplit(value)
            query = [("access_code" if k == "code" else k, v) for k, v in parse_qsl(parts.query)]
            value = urlunsplit(parts._replace(query=urlencode(query)))
        out.append((name, value))
    return out


def done(cloud, request):
    """Where a Speckle app without its own redirect URL lands: shows the access code."""
    code = request.query.get("access_code", [""])[0]
    error = request.query.get("error", [""])[0]
    if error:
        return _page("Not authorized", f"<p class='err'>{escape(error)}</p>", 400)
    return _page("Access code", f"<p>Give this code to the app:</p><pre>{escape(code)}</pre>")
