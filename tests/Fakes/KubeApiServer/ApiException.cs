using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>An API error, answered as a metav1.Status shaped as the real API server shapes it.</summary>
public sealed class ApiException : Exception
{
    public ApiException(int code, string reason, string message, JsonObject? details = null)
        : base(message)
    {
        Code = code;
        Reason = reason;
        Details = details;
    }

    public int Code { get; }
    public string Reason { get; }
    public JsonObject? Details { get; }

    public JsonObject ToStatus()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
        };
        if (Reason.Length > 0)
        {
            status["reason"] = Reason;
        }

        if (Details is not null)
        {
            status["details"] = Details.DeepClone();
        }

        status["code"] = Code;
        return status;
    }

    private static JsonObject DetailsFor(ResourceType type, string? name)
    {
        var details = new JsonObject();
        if (!string.IsNullOrEmpty(name))
        {
            details["name"] = name;
        }

        if (type.Group.Length > 0)
        {
            details["group"] = type.Group;
        }

        details["kind"] = type.Plural;
        return details;
    }

    public static ApiException NotFound(ResourceType type, string name) =>
        new(404, "NotFound", $"{type.QualifiedName} \"{name}\" not found", DetailsFor(type, name));

    public static ApiException AlreadyExists(ResourceType type, string name) =>
        new(409, "AlreadyExists", $"{type.QualifiedName} \"{name}\" already exists", DetailsFor(type, name));

    public static ApiException Conflict(ResourceType type, string name) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {type.QualifiedName} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", DetailsFor(type, name));

    public static ApiException Forbidden(ResourceType? type, string? name, string user, string verb, string? @namespace, string? subresource = null)
    {
        if (type is null)
        {
            return new ApiException(403, "Forbidden", $"forbidden: User \"{user}\" cannot {verb} path", new JsonObject());
        }

        var resource = subresource is null ? type.Plural : type.Plural + "/" + subresource;
        var subject = string.IsNullOrEmpty(name) ? type.QualifiedName : $"{type.QualifiedName} \"{name}\"";
        var scope = @namespace is null ? "at the cluster scope" : $"in the namespace \"{@namespace}\"";
        return new ApiException(403, "Forbidden",
            $"{subject} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{type.Group}\" {scope}",
            DetailsFor(type, name));
    }

    public static ApiException Invalid(ResourceType type, string name, string field, string detail, string causeType = "FieldValueInvalid")
    {
        var details = new JsonObject { ["name"] = name };
        if (type.Group.Length > 0)
        {
            details["group"] = type.Group;
        }

        details["kind"] = type.Kind;
        details["causes"] = new JsonArray(new JsonObject { ["reason"] = causeType, ["message"] = detail, ["field"] = field });
        return new ApiException(422, "Invalid", $"{type.Kind}{(type.Group.Length > 0 ? "." + type.Group : "")} \"{name}\" is invalid: {field}: {detail}", details);
    }

    /// <summary>422 for a subresource's invalid options (PodLogOptions), which name a kind that is no resource.</summary>
    public static ApiException InvalidOptions(string kind, string name, string field, string detail, string causeType = "FieldValueInvalid") =>
        new(422, "Invalid", $"{kind} \"{name}\" is invalid: {field}: {detail}",
            new JsonObject { ["name"] = name, ["kind"] = kind, ["causes"] = new JsonArray(new JsonObject { ["reason"] = causeType, ["message"] = detail, ["field"] = field }) });

    public static ApiException BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiException MethodNotAllowed(string verb) =>
        new(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource", new JsonObject());

    public static ApiException Gone(string message) => new(410, "Expired", message);

    public static ApiException ForCode(int code, string? reason, string? message, ResourceType? type, string? name)
    {
        switch (code)
        {
            case 409 when type is not null && (reason is null or "Conflict"):
                return Conflict(type, name ?? "");
            case 404 when type is not null:
                return NotFound(type, name ?? "");
        }

        var defaultReason = code switch
        {
            400 => "BadRequest",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "NotFound",
            409 => "Conflict",
            410 => "Expired",
            422 => "Invalid",
            429 => "TooManyRequests",
            500 => "InternalError",
            503 => "ServiceUnavailable",
            504 => "Timeout",
            _ => "",
        };
        var text = message ?? code switch
        {
            500 => "Internal error occurred: injected fault",
            503 => "the server is currently unable to handle the request",
            429 => "the server has received too many requests and has asked us to try again later",
            504 => "the server was unable to return a response in the time allotted, but may still be processing the request",
            _ => "injected fault",
        };
        JsonObject? details = null;
        if (code == 500)
        {
            details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = "injected fault" }) };
        }
        else if (code is 429 or 503 or 504)
        {
            details = new JsonObject { ["retryAfterSeconds"] = 1 };
        }

        return new ApiException(code, reason ?? defaultReason, text, details);
    }
}
