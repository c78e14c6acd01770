using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>A parsed API path.</summary>
internal sealed record ApiRoute(ResourceType? Type, string? Namespace, string? Name, string? Subresource, string? Verb)
{
    public bool IsWrite => Verb is "create" or "update" or "patch" or "delete" or "deletecollection";
}

/// <summary>Serves the Kubernetes API paths: discovery, CRUD, watch, patch, logs, scale and status, with auth and fault injection.</summary>
internal sealed class ApiHandler
{
    private static readonly JsonSerializerOptions AdminJson = new(JsonSerializerDefaults.Web) { WriteIndented = false };
    private readonly FakeKubeApiServer server;

    public ApiHandler(FakeKubeApiServer server)
    {
        this.server = server;
    }

    private ObjectStore Store => server.Store;

    public async Task HandleAsync(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value ?? "/";
        if (path == "/fake" || path.StartsWith("/fake/", StringComparison.Ordinal))
        {
            await AdminAsync(ctx, path);
            return;
        }

        var method = ctx.Request.Method.ToUpperInvariant();
        var query = ctx.Request.Query;
        ApiRoute? route = null;
        ApiException? routeError = null;
        try
        {
            route = Parse(method, path, query);
        }
        catch (ApiException e)
        {
            routeError = e;
        }

        string? body = null;
        if (method is "POST" or "PUT" or "PATCH" or "DELETE")
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            body = await reader.ReadToEndAsync(ctx.RequestAborted);
        }

        var record = new RecordedRequest
        {
            At = DateTimeOffset.UtcNow,
            Method = method,
            Path = path,
            Query = ctx.Request.QueryString.HasValue ? ctx.Request.QueryString.Value!.TrimStart('?') : "",
            Verb = route?.Verb,
            Resource = route?.Type?.Plural,
            Subresource = route?.Subresource,
            Namespace = route?.Namespace,
            Name = route?.Name,
            ContentType = ctx.Request.ContentType,
            PatchType = method == "PATCH" ? ctx.Request.ContentType?.Split(';')[0].Trim() : null,
            Body = body,
            UserAgent = ctx.Request.Headers.UserAgent.ToString(),
        };
        server.Record(record);
        try
        {
            var user = Authenticate(ctx, path);
            record.User = user.Name;
            if (routeError is not null)
            {
                throw routeError;
            }

            if (route is null)
            {
                await NonResourceAsync(ctx, path);
                return;
            }

            if (route.IsWrite && user.ReadOnly)
            {
                throw ApiException.Forbidden(route.Type, route.Name, user.Name, route.Verb!, route.Type!.Namespaced ? route.Namespace : null, route.Subresource);
            }

            var effect = server.Faults.Match(method, path, route.Verb, route.Type?.Plural);
            if (effect.Latency > TimeSpan.Zero)
            {
                await Task.Delay(effect.Latency, ctx.RequestAborted);
            }

            if (effect.Failure is { } failure)
            {
                var error = ApiException.ForCode(failure.StatusCode, failure.Reason, failure.Message, route.Type, route.Name);
                if (failure.StatusCode is 429 or 503)
                {
                    ctx.Response.Headers.RetryAfter = "1";
                }

                throw error;
            }

            if (method is "POST" or "PUT" && (ctx.Request.ContentType ?? "").StartsWith("application/vnd.kubernetes.protobuf", StringComparison.OrdinalIgnoreCase))
            {
                // Typed kubectl generators (create configmap/namespace/deployment) send protobuf; the fake decodes JSON only.
                throw new ApiException(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml", new JsonObject());
            }

            await ResourceAsync(ctx, route, body, effect.DropWatchAfterEvents);
        }
        catch (ApiException e)
        {
            if (!ctx.Response.HasStarted)
            {
                if (e.Code == 401)
                {
                    ctx.Response.Headers.WWWAuthenticate = "Bearer realm=\"kubernetes\"";
                }

                await WriteJsonAsync(ctx, e.Code, e.ToStatus());
            }
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested || server.Stopping.IsCancellationRequested)
        {
        }
        finally
        {
            record.StatusCode = ctx.Response.StatusCode;
        }
    }

    private (string Name, bool ReadOnly) Authenticate(HttpContext ctx, string path)
    {
        var options = server.Options;
        if (options.Token is null)
        {
            return ("fake-admin", false);
        }

        var header = ctx.Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            if (path is "/version" or "/healthz" or "/livez" or "/readyz" or "/version/")
            {
                return ("system:anonymous", true);
            }

            throw new ApiException(401, "Unauthorized", "Unauthorized");
        }

        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "";
        if (token == options.Token)
        {
            return ("fake-admin", false);
        }

        if (options.ReadOnlyToken is not null && token == options.ReadOnlyToken)
        {
            return ("fake-readonly", true);
        }

        throw new ApiException(401, "Unauthorized", "Unauthorized");
    }

    private static ApiRoute? Parse(string method, string path, IQueryCollection query)
    {
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length == 0)
        {
            return null;
        }

        string group, version;
        string[] rest;
        if (segments[0] == "api" && segments.Length >= 3)
        {
            group = "";
            version = segments[1];
            rest = segments[2..];
        }
        else if (segments[0] == "apis" && segments.Length >= 4)
        {
            group = segments[1];
            version = segments[2];
            rest = segments[3..];
        }
        else
        {
            return null;
        }

        string? ns = null, name = null, sub = null;
        ResourceType? type;
        if (rest[0] == "namespaces" && rest.Length >= 3 && Catalog.Find(group, version, rest[2]) is { Namespaced: true } namespaced)
        {
            type = namespaced;
            ns = rest[1];
            name = rest.Length > 3 ? rest[3] : null;
            sub = rest.Length > 4 ? rest[4] : null;
        }
        else
        {
            type = Catalog.Find(group, version, rest[0]);
            name = rest.Length > 1 ? rest[1] : null;
            sub = rest.Length > 2 ? rest[2] : null;
        }

        if (type is null || (sub is not null && !type.Subresources.Contains(sub)))
        {
            throw new ApiException(404, "NotFound", "the server could not find the requested resource", new JsonObject());
        }

        var watch = query["watch"].ToString() is "true" or "1";
        var verb = method switch
        {
            "GET" when name is null => watch ? "watch" : "list",
            "GET" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" when name is null => "deletecollection",
            "DELETE" => "delete",
            _ => throw ApiException.MethodNotAllowed(method),
        };
        if (verb is "create" && name is not null)
        {
            throw ApiException.MethodNotAllowed(method);
        }

        return new ApiRoute(type, ns, name, sub, verb);
    }

    // ---------------- non-resource paths ----------------

    private async Task NonResourceAsync(HttpContext ctx, string path)
    {
        switch (path.TrimEnd('/'))
        {
            case "/version":
                var gitVersion = server.Options.GitVersion;
                var parts = gitVersion.TrimStart('v').Split('.');
                await WriteJsonAsync(ctx, 200, new JsonObject
                {
                    ["major"] = parts[0],
                    ["minor"] = parts.Length > 1 ? parts[1] : "0",
                    ["emulationMajor"] = parts[0],
                    ["emulationMinor"] = parts.Length > 1 ? parts[1] : "0",
                    ["gitVersion"] = gitVersion,
                    ["gitCommit"] = "0000000000000000000000000000000000000000",
                    ["gitTreeState"] = "clean",
                    ["buildDate"] = "2025-04-22T16:03:00Z",
                    ["goVersion"] = "go1.23.6",
                    ["compiler"] = "gc",
                    ["platform"] = "linux/amd64",
                });
                return;
            case "/healthz":
            case "/livez":
            case "/readyz":
                await WriteTextAsync(ctx, 200, "ok");
                return;
            case "/api":
                await WriteJsonAsync(ctx, 200, Catalog.ApiVersions());
                return;
            case "/apis":
                await WriteJsonAsync(ctx, 200, Catalog.ApiGroupList());
                return;
            case "/apis/apps":
                await WriteJsonAsync(ctx, 200, Catalog.ApiGroup("apps"));
                return;
            case "/api/v1":
                await WriteJsonAsync(ctx, 200, Catalog.ResourceList("v1"));
                return;
            case "/apis/apps/v1":
                await WriteJsonAsync(ctx, 200, Catalog.ResourceList("apps/v1"));
                return;
            case "/openapi/v3":
                await WriteJsonAsync(ctx, 200, Catalog.OpenApiRoot());
                return;
            case var openapi when openapi.StartsWith("/openapi/v3/", StringComparison.Ordinal) && Catalog.OpenApiGroupVersion(openapi["/openapi/v3/".Length..]) is { } document:
                await WriteJsonAsync(ctx, 200, document);
                return;
            default:
                // The real server answers unknown paths (and /openapi when it is not served) with a plain 404.
                await WriteTextAsync(ctx, 404, "404 page not found\n");
                return;
        }
    }

    // ---------------- resources ----------------

    private async Task ResourceAsync(HttpContext ctx, ApiRoute route, string? body, int? dropAfter)
    {
        var type = route.Type!;
        var query = ctx.Request.Query;
        var dryRun = query["dryRun"].ToString() == "All";
        if (type.Namespaced && route.Namespace is null && route.Verb is not ("list" or "watch" or "deletecollection"))
        {
            throw ApiException.MethodNotAllowed(ctx.Request.Method);
        }

        if (type.Namespaced && route.Namespace is not null && route.Verb is "create" && Store.Get(Catalog.Namespaces, null, route.Namespace) is null)
        {
            throw ApiException.NotFound(Catalog.Namespaces, route.Namespace);
        }

        switch (route.Subresource)
        {
            case "log":
                await LogAsync(ctx, route);
                return;
            case "scale":
                await ScaleAsync(ctx, route, body, dryRun);
                return;
        }

        var mode = route.Subresource == "status" ? WriteMode.Status : WriteMode.Main;
        switch (route.Verb)
        {
            case "get":
            {
                var obj = Store.Get(type, route.Namespace, route.Name!) ?? throw ApiException.NotFound(type, route.Name!);
                await WriteObjectAsync(ctx, 200, type, obj);
                return;
            }

            case "list":
                await ListAsync(ctx, route);
                return;
            case "watch":
                await WatchAsync(ctx, route, dropAfter);
                return;
            case "create":
                await WriteObjectAsync(ctx, 201, type, Create(type, route.Namespace, ParseBody(body), dryRun));
                return;
            case "update":
            {
                var obj = ParseBody(body);
                CheckIdentity(type, route, obj);
                var old = Store.Get(type, route.Namespace, route.Name!) ?? throw ApiException.NotFound(type, route.Name!);
                var updated = Save(type, old, obj, mode, obj.Str("metadata", "resourceVersion"), dryRun);
                await WriteObjectAsync(ctx, 200, type, updated);
                return;
            }

            case "patch":
            {
                var contentType = ctx.Request.ContentType ?? "";
                for (var attempt = 0; ; attempt++)
                {
                    var current = Store.Get(type, route.Namespace, route.Name!) ?? throw ApiException.NotFound(type, route.Name!);
                    var currentRv = current.Str("metadata", "resourceVersion");
                    var patched = Patches.Apply(current, contentType, body ?? "");
                    var patchedRv = patched.Str("metadata", "resourceVersion");
                    if (!string.IsNullOrEmpty(patchedRv) && patchedRv != currentRv)
                    {
                        throw ApiException.Conflict(type, route.Name!);
                    }

                    CheckIdentity(type, route, patched);
                    try
                    {
                        var saved = Save(type, current, patched, mode, currentRv, dryRun);
                        await WriteObjectAsync(ctx, 200, type, saved);
                        return;
                    }
                    catch (ApiException e) when (e.Reason == "Conflict" && attempt < 5)
                    {
                        // GuaranteedUpdate: someone wrote in between; re-apply the patch to the new object.
                    }
                }
            }

            case "delete":
            {
                var options = body is { Length: > 0 } ? Json.Parse(body) : new JsonObject();
                if (options["dryRun"] is JsonArray d && d.Any(x => x?.GetValue<string>() == "All"))
                {
                    dryRun = true;
                }

                var result = Delete(type, route.Namespace, route.Name!, options, query, dryRun) ?? throw ApiException.NotFound(type, route.Name!);
                if (type == Catalog.Pods || result.Str("metadata", "deletionTimestamp") is not null)
                {
                    await WriteObjectAsync(ctx, 200, type, result);
                }
                else
                {
                    var details = new JsonObject { ["name"] = route.Name };
                    if (type.Group.Length > 0)
                    {
                        details["group"] = type.Group;
                    }

                    details["kind"] = type.Plural;
                    details["uid"] = result.Uid();
                    await WriteJsonAsync(ctx, 200, new JsonObject
                    {
                        ["kind"] = "Status",
                        ["apiVersion"] = "v1",
                        ["metadata"] = new JsonObject(),
                        ["status"] = "Success",
                        ["details"] = details,
                    });
                }

                return;
            }

            case "deletecollection":
            {
                var options = body is { Length: > 0 } ? Json.Parse(body) : new JsonObject();
                var (items, rv) = Store.List(type, route.Namespace);
                var labels = LabelSelector.Parse(query["labelSelector"]);
                var fields = FieldSelector.Parse(query["fieldSelector"], type);
                var deleted = new JsonArray();
                foreach (var item in items.Where(i => labels.Matches(i) && fields.Matches(i)))
                {
                    if (Delete(type, item.Namespace(), item.Name(), options, query, dryRun) is { } gone)
                    {
                        gone.Remove("kind");
                        gone.Remove("apiVersion");
                        deleted.Add(gone);
                    }
                }

                await WriteJsonAsync(ctx, 200, new JsonObject
                {
                    ["kind"] = type.ListKind,
                    ["apiVersion"] = type.ApiVersion,
                    ["metadata"] = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) },
                    ["items"] = deleted,
                });
                return;
            }
        }
    }

    private static JsonObject ParseBody(string? body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            throw ApiException.BadRequest("the body of the request was empty");
        }

        try
        {
            return Json.Parse(body);
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest("the object provided is unrecognized: " + e.Message);
        }
    }

    private static void CheckIdentity(ResourceType type, ApiRoute route, JsonObject obj)
    {
        if (obj.Name() != route.Name)
        {
            throw ApiException.BadRequest($"the name of the object ({obj.Name()}) does not match the name on the URL ({route.Name})");
        }

        if (type.Namespaced && obj.Namespace() is { } ns && ns != route.Namespace)
        {
            throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
        }

        CheckKind(type, obj);
    }

    private static void CheckKind(ResourceType type, JsonObject obj)
    {
        var apiVersion = obj.Str("apiVersion");
        var kind = obj.Str("kind");
        if (apiVersion is not null && apiVersion != type.ApiVersion)
        {
            throw ApiException.BadRequest($"the API version in the data ({apiVersion}) does not match the expected API version ({type.ApiVersion})");
        }

        if (kind is not null && kind != type.Kind)
        {
            throw ApiException.BadRequest($"{kind} in version \"{type.Version}\" cannot be handled as a {type.Kind}: no kind \"{kind}\" is registered for version \"{apiVersion}\"");
        }
    }

    /// <summary>Create as the registry does it: generateName, clear status, default, validate, store.</summary>
    internal JsonObject Create(ResourceType type, string? ns, JsonObject obj, bool dryRun)
    {
        CheckKind(type, obj);
        obj["kind"] = type.Kind;
        obj["apiVersion"] = type.ApiVersion;
        var meta = obj.Meta();
        if (type.Namespaced)
        {
            var bodyNs = obj.Namespace();
            if (bodyNs is not null && ns is not null && bodyNs != ns)
            {
                throw ApiException.BadRequest("the namespace of the provided object does not match the namespace sent on the request");
            }

            meta["namespace"] = ns ?? bodyNs ?? "default";
        }
        else
        {
            meta.Remove("namespace");
        }

        if (string.IsNullOrEmpty(obj.Name()) && obj.Str("metadata", "generateName") is { Length: > 0 } prefix)
        {
            meta["name"] = prefix + Json.RandomSuffix();
        }

        ReorderTop(obj);
        Defaults.PrepareForCreate(type, obj);
        Defaults.Apply(type, obj);
        Defaults.Validate(type, obj, null);
        return Store.Create(type, obj, dryRun);
    }

    private static void ReorderTop(JsonObject obj)
    {
        var entries = obj.ToList();
        obj.Clear();
        foreach (var key in new[] { "kind", "apiVersion", "metadata" })
        {
            var entry = entries.FirstOrDefault(e => e.Key == key);
            if (entry.Key is not null)
            {
                obj[key] = entry.Value;
            }
        }

        foreach (var (key, value) in entries.Where(e => e.Key is not ("kind" or "apiVersion" or "metadata")))
        {
            obj[key] = value;
        }
    }

    internal JsonObject Save(ResourceType type, JsonObject old, JsonObject obj, WriteMode mode, string? expectedRv, bool dryRun)
    {
        obj["kind"] = type.Kind;
        obj["apiVersion"] = type.ApiVersion;
        if (type.Namespaced)
        {
            obj.Meta()["namespace"] = old.Namespace();
        }

        if (mode == WriteMode.Main)
        {
            Defaults.Apply(type, obj);
            Defaults.Validate(type, obj, old);
        }

        return Store.Update(type, obj, mode, expectedRv, dryRun);
    }

    internal JsonObject? Delete(ResourceType type, string? ns, string name, JsonObject options, IQueryCollection? query, bool dryRun)
    {
        var uid = options.Str("preconditions", "uid");
        var rv = options.Str("preconditions", "resourceVersion");
        var policy = options.Str("propagationPolicy") ?? query?["propagationPolicy"].ToString();
        if (options.Bool("orphanDependents") == true)
        {
            policy = "Orphan";
        }

        long? grace = options.Long("gracePeriodSeconds");
        if (grace is null && query is not null && long.TryParse(query["gracePeriodSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var g))
        {
            grace = g;
        }

        if (type == Catalog.Pods)
        {
            return server.Kubelet.DeletePod(ns ?? "default", name, grace, uid, rv, dryRun);
        }

        var existing = Store.Get(type, ns, name);
        if (existing is null)
        {
            return null;
        }

        if (policy == "Orphan" && !dryRun)
        {
            foreach (var (depType, dep) in Store.Everything())
            {
                if (Json.Walk(dep, "metadata", "ownerReferences") is JsonArray refs && refs.OfType<JsonObject>().Any(r => r.Str("uid") == existing.Uid()))
                {
                    Store.Mutate(depType, dep.Namespace(), dep.Name(), d =>
                    {
                        var list = (JsonArray)d["metadata"]!["ownerReferences"]!;
                        foreach (var r in list.OfType<JsonObject>().Where(r => r.Str("uid") == existing.Uid()).ToList())
                        {
                            list.Remove(r);
                        }

                        if (list.Count == 0)
                        {
                            d.Meta().Remove("ownerReferences");
                        }

                        return true;
                    });
                }
            }
        }

        if (type == Catalog.Namespaces && !dryRun)
        {
            foreach (var t in Catalog.All.Where(t => t.Namespaced))
            {
                foreach (var item in Store.List(t, name).Items)
                {
                    Store.Delete(t, name, item.Name());
                }
            }
        }

        return Store.Delete(type, ns, name, uid, rv, dryRun);
    }

    private async Task ListAsync(HttpContext ctx, ApiRoute route)
    {
        var type = route.Type!;
        var query = ctx.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], type);
        var (items, rv) = Store.List(type, route.Namespace);
        var matching = items.Where(i => labels.Matches(i) && fields.Matches(i)).ToList();
        string? next = null;
        long? remaining = null;
        if (query["continue"].ToString() is { Length: > 0 } token)
        {
            string after;
            try
            {
                after = Encoding.UTF8.GetString(Convert.FromBase64String(token));
            }
            catch (FormatException)
            {
                throw ApiException.BadRequest("continue key is not valid: illegal base64 data");
            }

            matching = matching.Where(i => string.CompareOrdinal((i.Namespace() ?? "") + "/" + i.Name(), after) > 0).ToList();
        }

        if (long.TryParse(query["limit"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var limit) && limit > 0 && matching.Count > limit)
        {
            remaining = matching.Count - limit;
            matching = matching.Take((int)limit).ToList();
            var last = matching[^1];
            next = Convert.ToBase64String(Encoding.UTF8.GetBytes((last.Namespace() ?? "") + "/" + last.Name()));
        }

        var rvText = rv.ToString(CultureInfo.InvariantCulture);
        if (WantsTable(ctx))
        {
            await WriteJsonAsync(ctx, 200, Tables.Convert(type, matching, rvText, next, query["includeObject"] == "Object"));
            return;
        }

        foreach (var item in matching)
        {
            item.Remove("kind");
            item.Remove("apiVersion");
        }

        var meta = new JsonObject { ["resourceVersion"] = rvText };
        if (next is not null)
        {
            meta["continue"] = next;
            meta["remainingItemCount"] = remaining;
        }

        await WriteJsonAsync(ctx, 200, new JsonObject
        {
            ["kind"] = type.ListKind,
            ["apiVersion"] = type.ApiVersion,
            ["metadata"] = meta,
            ["items"] = new JsonArray(matching.Select(i => (JsonNode?)i).ToArray()),
        });
    }

    private async Task WatchAsync(HttpContext ctx, ApiRoute route, int? dropAfter)
    {
        var type = route.Type!;
        var query = ctx.Request.Query;
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"], type);
        var bookmarks = query["allowWatchBookmarks"].ToString() is "true" or "1";
        var initialEvents = query["sendInitialEvents"].ToString() is "true" or "1";
        var table = WantsTable(ctx);
        long? from = null;
        var rvText = query["resourceVersion"].ToString();
        if (!initialEvents && rvText.Length > 0 && rvText != "0")
        {
            if (!long.TryParse(rvText, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
            {
                throw ApiException.BadRequest($"resourceVersion: Invalid value: \"{rvText}\": must be a valid resourceVersion");
            }

            from = parsed;
        }

        var timeout = TimeSpan.FromMinutes(30);
        if (long.TryParse(query["timeoutSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            timeout = TimeSpan.FromSeconds(seconds);
        }

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        ctx.Response.Headers.CacheControl = "no-cache, private";
        Subscription subscription;
        try
        {
            subscription = Store.Watch(type, route.Namespace, from);
        }
        catch (ApiException e) when (e.Code == 410)
        {
            await WriteLineAsync(ctx, new JsonObject { ["type"] = "ERROR", ["object"] = e.ToStatus() });
            return;
        }

        using (subscription)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, server.Stopping);
            stop.CancelAfter(timeout);
            var sent = 0;
            var lastRv = subscription.StartResourceVersion;
            await ctx.Response.Body.FlushAsync(stop.Token);

            async Task<bool> SendAsync(StoredEvent e)
            {
                var eventType = Translate(e, labels, fields);
                if (eventType is null)
                {
                    return true;
                }

                var obj = e.Object.Clone();
                obj["kind"] = type.Kind;
                obj["apiVersion"] = type.ApiVersion;
                JsonObject payload = table ? Tables.Convert(type, [obj], null, null, false) : obj;
                await WriteLineAsync(ctx, new JsonObject { ["type"] = eventType, ["object"] = payload }, stop.Token);
                sent++;
                return dropAfter is null || sent < dropAfter.Value;
            }

            try
            {
                foreach (var e in subscription.Backlog)
                {
                    if (!await SendAsync(e))
                    {
                        return;
                    }

                    lastRv = Math.Max(lastRv, e.ResourceVersion);
                }

                if (initialEvents && bookmarks)
                {
                    await WriteLineAsync(ctx, Bookmark(type, subscription.StartResourceVersion, initialEventsEnd: true), stop.Token);
                }

                var reader = subscription.Live.Reader;
                var nextBookmark = DateTimeOffset.UtcNow + server.Options.BookmarkInterval;
                while (!stop.IsCancellationRequested)
                {
                    var wait = nextBookmark - DateTimeOffset.UtcNow;
                    if (wait < TimeSpan.Zero)
                    {
                        wait = TimeSpan.Zero;
                    }

                    var readable = reader.WaitToReadAsync(stop.Token).AsTask();
                    var finished = await Task.WhenAny(readable, Task.Delay(wait, stop.Token));
                    if (finished == readable && await readable)
                    {
                        while (reader.TryRead(out var e))
                        {
                            if (e.ResourceVersion <= lastRv && from is not null)
                            {
                                continue;
                            }

                            if (!await SendAsync(e))
                            {
                                return;
                            }

                            lastRv = Math.Max(lastRv, e.ResourceVersion);
                        }
                    }
                    else if (finished == readable)
                    {
                        return;
                    }
                    else if (bookmarks && DateTimeOffset.UtcNow >= nextBookmark)
                    {
                        var snapshot = Store.ResourceVersion;
                        if (!reader.TryPeek(out _))
                        {
                            lastRv = Math.Max(lastRv, snapshot);
                            await WriteLineAsync(ctx, Bookmark(type, lastRv, initialEventsEnd: false), stop.Token);
                        }

                        nextBookmark = DateTimeOffset.UtcNow + server.Options.BookmarkInterval;
                    }
                    else if (!bookmarks)
                    {
                        nextBookmark = DateTimeOffset.UtcNow + server.Options.BookmarkInterval;
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Timeout, client gone or server stopping: the stream simply ends, as a real watch does.
            }
        }
    }

    private static JsonObject Bookmark(ResourceType type, long rv, bool initialEventsEnd)
    {
        var meta = new JsonObject { ["resourceVersion"] = rv.ToString(CultureInfo.InvariantCulture) };
        if (initialEventsEnd)
        {
            meta["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
        }

        return new JsonObject
        {
            ["type"] = "BOOKMARK",
            ["object"] = new JsonObject { ["kind"] = type.Kind, ["apiVersion"] = type.ApiVersion, ["metadata"] = meta },
        };
    }

    private static string? Translate(StoredEvent e, LabelSelector labels, FieldSelector fields)
    {
        bool Matches(JsonObject? o) => o is not null && labels.Matches(o) && fields.Matches(o);
        switch (e.EventType)
        {
            case "ADDED":
                return Matches(e.Object) ? "ADDED" : null;
            case "DELETED":
                return Matches(e.Old ?? e.Object) ? "DELETED" : null;
            default:
                var before = Matches(e.Old);
                var after = Matches(e.Object);
                return (before, after) switch
                {
                    (true, true) => "MODIFIED",
                    (false, true) => "ADDED",
                    (true, false) => "DELETED",
                    _ => null,
                };
        }
    }

    private async Task LogAsync(HttpContext ctx, ApiRoute route)
    {
        if (route.Verb != "get")
        {
            throw ApiException.MethodNotAllowed(ctx.Request.Method);
        }

        var query = ctx.Request.Query;
        var pod = Store.Get(Catalog.Pods, route.Namespace, route.Name!) ?? throw ApiException.NotFound(Catalog.Pods, route.Name!);
        long? tail = long.TryParse(query["tailLines"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var t) ? t : null;
        var previous = query["previous"].ToString() is "true" or "1";
        var timestamps = query["timestamps"].ToString() is "true" or "1";
        var since = LogSince(query, route.Name!);
        var text = server.Kubelet.Logs(pod, query["container"], previous, tail, timestamps, since);
        if (long.TryParse(query["limitBytes"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var limitBytes) && limitBytes > 0 && text.Length > limitBytes)
        {
            text = text[..(int)limitBytes];
        }

        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/plain";
        await ctx.Response.WriteAsync(text, ctx.RequestAborted);
        if (query["follow"].ToString() is "true" or "1")
        {
            // The fake containers print nothing after start: follow ends when the pod goes away or the client leaves.
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, server.Stopping);
            while (!stop.IsCancellationRequested && Store.Get(Catalog.Pods, route.Namespace, route.Name!) is { } p && p.Uid() == pod.Uid())
            {
                await Task.Delay(200, stop.Token);
            }
        }
    }

    /// <summary>sinceSeconds or sinceTime as a time, validated as the real server validates PodLogOptions (422 Invalid).</summary>
    private static DateTimeOffset? LogSince(IQueryCollection query, string pod)
    {
        var seconds = query["sinceSeconds"].ToString();
        var time = query["sinceTime"].ToString();
        if (seconds.Length > 0 && time.Length > 0)
        {
            throw ApiException.InvalidOptions("PodLogOptions", pod, "", "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified", "FieldValueForbidden");
        }

        if (seconds.Length > 0)
        {
            if (!long.TryParse(seconds, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                throw ApiException.BadRequest($"sinceSeconds: invalid value '{seconds}'");
            }

            return value < 1
                ? throw ApiException.InvalidOptions("PodLogOptions", pod, "sinceSeconds", $"Invalid value: {value}: must be greater than 0")
                : DateTimeOffset.UtcNow.AddSeconds(-value);
        }

        if (time.Length > 0)
        {
            return DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var from)
                ? from
                : throw ApiException.BadRequest($"sinceTime: parsing time \"{time}\" as RFC3339 failed");
        }

        return null;
    }

    private async Task ScaleAsync(HttpContext ctx, ApiRoute route, string? body, bool dryRun)
    {
        var type = route.Type!;
        var obj = Store.Get(type, route.Namespace, route.Name!) ?? throw ApiException.NotFound(type, route.Name!);
        JsonObject Scale(JsonObject o) => new()
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = o.Name(),
                ["namespace"] = o.Namespace(),
                ["uid"] = o.Uid(),
                ["resourceVersion"] = o.Str("metadata", "resourceVersion"),
                ["creationTimestamp"] = o.Str("metadata", "creationTimestamp"),
            },
            ["spec"] = new JsonObject { ["replicas"] = o.Long("spec", "replicas") ?? 1 },
            ["status"] = new JsonObject
            {
                ["replicas"] = o.Long("status", "replicas") ?? 0,
                ["selector"] = LabelSelector.ToText(Json.Walk(o, "spec", "selector")),
            },
        };

        var current = Scale(obj);
        JsonObject wanted;
        switch (route.Verb)
        {
            case "get":
                await WriteJsonAsync(ctx, 200, current);
                return;
            case "update":
                wanted = ParseBody(body);
                break;
            case "patch":
                wanted = Patches.Apply(current, ctx.Request.ContentType ?? "", body ?? "");
                break;
            default:
                throw ApiException.MethodNotAllowed(ctx.Request.Method);
        }

        var expected = wanted.Str("metadata", "resourceVersion");
        if (!string.IsNullOrEmpty(expected) && expected != obj.Str("metadata", "resourceVersion"))
        {
            throw ApiException.Conflict(type, route.Name!);
        }

        obj.Obj("spec")["replicas"] = wanted.Long("spec", "replicas") ?? 0;
        var saved = Save(type, Store.Get(type, route.Namespace, route.Name!)!, obj, WriteMode.Main, obj.Str("metadata", "resourceVersion"), dryRun);
        await WriteJsonAsync(ctx, 200, Scale(saved));
    }

    // ---------------- admin ----------------

    private async Task AdminAsync(HttpContext ctx, string path)
    {
        var method = ctx.Request.Method.ToUpperInvariant();
        string body;
        using (var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(ctx.RequestAborted);
        }

        try
        {
            switch (method, path.TrimEnd('/'))
            {
                case ("GET", "/fake/healthz"):
                    await WriteTextAsync(ctx, 200, "ok");
                    return;
                case ("GET", "/fake/requests"):
                    await WriteAdminAsync(ctx, 200, server.Requests);
                    return;
                case ("DELETE", "/fake/requests"):
                    server.ClearRequests();
                    await WriteAdminAsync(ctx, 200, new { cleared = true });
                    return;
                case ("GET", "/fake/faults"):
                    await WriteAdminAsync(ctx, 200, server.Faults.Rules);
                    return;
                case ("POST", "/fake/faults"):
                {
                    var rule = JsonSerializer.Deserialize<FaultRule>(body, AdminJson) ?? throw ApiException.BadRequest("a FaultRule is required");
                    server.Faults.Add(rule);
                    await WriteAdminAsync(ctx, 201, rule);
                    return;
                }

                case ("DELETE", "/fake/faults"):
                    server.Faults.Clear();
                    await WriteAdminAsync(ctx, 200, new { cleared = true });
                    return;
                case ("POST", "/fake/images"):
                {
                    var request = Json.Parse(body);
                    var image = request.Str("image") ?? throw ApiException.BadRequest("image is required");
                    if ((request.Str("behaviour") ?? request.Str("behavior")) is { } behaviourText)
                    {
                        if (!Enum.TryParse<ImageBehaviour>(behaviourText, ignoreCase: true, out var behaviour))
                        {
                            throw ApiException.BadRequest("behaviour must be one of " + string.Join(", ", Enum.GetNames<ImageBehaviour>()));
                        }

                        server.Images[image] = behaviour;
                    }

                    if (request.Long("readyDelayMs") is { } delay)
                    {
                        server.Images.SetReadyDelay(image, TimeSpan.FromMilliseconds(delay));
                    }

                    await WriteAdminAsync(ctx, 201, new { image, behaviour = server.Images[image].ToString() });
                    return;
                }

                case ("DELETE", "/fake/images"):
                    server.Images.Clear();
                    await WriteAdminAsync(ctx, 200, new { cleared = true });
                    return;
                case ("POST", "/fake/objects"):
                    await WriteJsonAsync(ctx, 201, server.Apply(Json.Parse(body)));
                    return;
                default:
                    await WriteTextAsync(ctx, 404, "404 page not found\n");
                    return;
            }
        }
        catch (ApiException e)
        {
            await WriteJsonAsync(ctx, e.Code, e.ToStatus());
        }
        catch (JsonException e)
        {
            await WriteJsonAsync(ctx, 400, ApiException.BadRequest(e.Message).ToStatus());
        }
    }

    // ---------------- output ----------------

    private static bool WantsTable(HttpContext ctx) => ctx.Request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal);

    private async Task WriteObjectAsync(HttpContext ctx, int status, ResourceType type, JsonObject obj)
    {
        obj["kind"] = type.Kind;
        obj["apiVersion"] = type.ApiVersion;
        ReorderTop(obj);
        if (WantsTable(ctx) && ctx.Request.Method == "GET")
        {
            await WriteJsonAsync(ctx, status, Tables.Convert(type, [obj], obj.Str("metadata", "resourceVersion"), null, ctx.Request.Query["includeObject"] == "Object"));
            return;
        }

        await WriteJsonAsync(ctx, status, obj);
    }

    private static async Task WriteJsonAsync(HttpContext ctx, int status, JsonNode node)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(Json.Compact(node) + "\n", ctx.RequestAborted);
    }

    private static async Task WriteLineAsync(HttpContext ctx, JsonNode node, CancellationToken cancellation = default)
    {
        await ctx.Response.WriteAsync(Json.Compact(node) + "\n", cancellation);
        await ctx.Response.Body.FlushAsync(cancellation);
    }

    private static async Task WriteTextAsync(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync(text, ctx.RequestAborted);
    }

    private static async Task WriteAdminAsync<T>(HttpContext ctx, int status, T value)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(value, AdminJson), ctx.RequestAborted);
    }
}
