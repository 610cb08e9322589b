-- app-layer's router balancer (loaded by the nginx config that app_layer/routing/nginx.py renders).
--
-- The endpoints of every app live in the shared dict `app_layer_endpoints` as one line per app,
-- "host:port host:port ...". The router process replaces the whole table by POSTing lines of
-- "<app> host:port host:port" to /endpoints on the local-only admin socket, so endpoint changes
-- never need a reload. Requests are spread round-robin; after a connection error nginx asks the
-- balancer again and gets the next endpoint, read afresh from the dict.
local balancer = require "ngx.balancer"

local endpoints = ngx.shared.app_layer_endpoints
local cache = {}     -- app -> { raw = "...", peers = { {host, port}, ... } }, per worker
local counters = {}  -- app -> round-robin position, per worker

local _M = {}

local function parse(raw)
    local peers = {}
    for host, port in string.gmatch(raw, "([^%s]+):(%d+)") do
        peers[#peers + 1] = { host, tonumber(port) }
    end
    return peers
end

local function peers_of(app)
    local raw = endpoints:get(app)
    if not raw or raw == "" then
        return nil
    end
    local cached = cache[app]
    if cached and cached.raw == raw then
        return cached.peers
    end
    local peers = parse(raw)
    cache[app] = { raw = raw, peers = peers }
    return peers
end

local function plain(status, message)
    ngx.status = status
    ngx.header["Content-Type"] = "text/plain; charset=utf-8"
    ngx.say(message)
    return ngx.exit(status)
end

-- access phase: which app, and does it have a process to send the request to?
function _M.access()
    local app = ngx.var.app_layer_app
    if app == nil or app == "" then
        if ngx.var.uri == "/healthz" then
            return plain(200, "ok")
        end
        return plain(404, "No app is served at " .. (ngx.var.host or "this address"))
    end
    local peers = peers_of(app)
    if not peers or #peers == 0 then
        return plain(503, "No web processes of " .. app .. " are running")
    end
    ngx.ctx.app = app
    ngx.ctx.peers = peers
end

-- balancer phase: pick the next endpoint (again after a failed attempt)
function _M.balance()
    local ctx = ngx.ctx
    local app = ctx.app
    local peers = ctx.peers
    if ctx.tries == nil then
        local position = (counters[app] or 0) + 1
        counters[app] = position
        ctx.position = position
        ctx.tries = 0
        -- one attempt per endpoint, plus one with a fresh read (a rollout may have replaced them)
        balancer.set_more_tries(#peers)
    else
        ctx.tries = ctx.tries + 1
        peers = peers_of(app) or peers
        ctx.peers = peers
    end
    local peer = peers[(ctx.position + ctx.tries) % #peers + 1]
    local ok, err = balancer.set_current_peer(peer[1], peer[2])
    if not ok then
        ngx.log(ngx.ERR, "app-layer: cannot use endpoint ", peer[1], ":", peer[2], ": ", err)
        return ngx.exit(502)
    end
end

-- admin: GET lists the table, POST replaces it
function _M.endpoints()
    if ngx.req.get_method() == "GET" then
        for _, app in ipairs(endpoints:get_keys(0)) do
            ngx.say(app, " ", endpoints:get(app))
        end
        return
    end
    ngx.req.read_body()
    local body = ngx.req.get_body_data() or ""
    local seen = {}
    for line in string.gmatch(body, "[^\n]+") do
        local app, rest = string.match(line, "^(%S+)%s*(.*)$")
        if app then
            seen[app] = true
            local ok, err = endpoints:set(app, rest)
            if not ok then
                return plain(500, "cannot store endpoints of " .. app .. ": " .. err)
            end
        end
    end
    for _, app in ipairs(endpoints:get_keys(0)) do
        if not seen[app] then
            endpoints:delete(app)
        end
    end
    ngx.say("ok")
end

return _M
