using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>One served resource type.</summary>
public sealed record ResourceType(
    string Group,
    string Version,
    string Plural,
    string Singular,
    string Kind,
    bool Namespaced,
    string[] ShortNames,
    string[] Subresources,
    bool HasStatus,
    bool HasGeneration,
    string StorageVersionHash)
{
    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;

    /// <summary>"deployments.apps" or "pods": the name the real server uses in messages.</summary>
    public string QualifiedName => Group.Length == 0 ? Plural : Plural + "." + Group;

    public string Key => Group + "/" + Plural;

    public string ListKind => Kind + "List";

    public bool Is(string group, string plural) => Group == group && Plural == plural;
}

/// <summary>The resource types the fake serves, and their discovery documents.</summary>
public static class Catalog
{
    private static readonly string[] Crud = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    public static readonly ResourceType Pods = new("", "v1", "pods", "pod", "Pod", true, ["po"], ["status", "log"], true, false, "xPOwRZ+Yhw8=");
    public static readonly ResourceType Events = new("", "v1", "events", "event", "Event", true, ["ev"], [], false, false, "r2yiGXH7wu8=");
    public static readonly ResourceType ConfigMaps = new("", "v1", "configmaps", "configmap", "ConfigMap", true, ["cm"], [], false, false, "qFsyl6wFWjQ=");
    public static readonly ResourceType Secrets = new("", "v1", "secrets", "secret", "Secret", true, [], [], false, false, "S6u1pOWzb84=");
    public static readonly ResourceType Services = new("", "v1", "services", "service", "Service", true, ["svc"], ["status"], true, false, "0/CO1lhkEBI=");
    public static readonly ResourceType ServiceAccounts = new("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, ["sa"], [], false, false, "NHnbNK/b+Nw=");
    public static readonly ResourceType Namespaces = new("", "v1", "namespaces", "namespace", "Namespace", false, ["ns"], ["status"], true, false, "Q3oi5N2YM8M=");
    public static readonly ResourceType Nodes = new("", "v1", "nodes", "node", "Node", false, ["no"], ["status"], true, false, "XwShjMxG9Fs=");
    public static readonly ResourceType Deployments = new("apps", "v1", "deployments", "deployment", "Deployment", true, ["deploy"], ["status", "scale"], true, true, "8aSe+NMegvE=");
    public static readonly ResourceType ReplicaSets = new("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, ["rs"], ["status", "scale"], true, true, "P1RzHs8/mWQ=");
    public static readonly ResourceType StatefulSets = new("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, ["sts"], ["status", "scale"], true, true, "H+vl74LkKdo=");
    public static readonly ResourceType DaemonSets = new("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, ["ds"], ["status"], true, true, "dd7pWHUlMKQ=");
    public static readonly ResourceType ControllerRevisions = new("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, [], [], false, false, "85nkx63pcBU=");

    public static readonly IReadOnlyList<ResourceType> All =
        [Pods, Events, ConfigMaps, Secrets, Services, ServiceAccounts, Namespaces, Nodes, Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions];

    public static ResourceType? Find(string group, string version, string plural) =>
        All.FirstOrDefault(t => t.Group == group && t.Version == version && t.Plural == plural);

    public static ResourceType? ForKind(string apiVersion, string kind) =>
        All.FirstOrDefault(t => t.ApiVersion == apiVersion && t.Kind == kind);

    private static readonly HashSet<string> AllCategory = ["pods", "services", "deployments", "replicasets", "statefulsets", "daemonsets"];

    public static JsonObject ApiVersions() => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = "127.0.0.1:6443" }),
    };

    public static JsonObject ApiGroup(string group) => new()
    {
        ["kind"] = "APIGroup",
        ["apiVersion"] = "v1",
        ["name"] = group,
        ["versions"] = new JsonArray(new JsonObject { ["groupVersion"] = group + "/v1", ["version"] = "v1" }),
        ["preferredVersion"] = new JsonObject { ["groupVersion"] = group + "/v1", ["version"] = "v1" },
    };

    public static JsonObject ApiGroupList()
    {
        var group = ApiGroup("apps");
        group.Remove("kind");
        group.Remove("apiVersion");
        return new JsonObject
        {
            ["kind"] = "APIGroupList",
            ["apiVersion"] = "v1",
            ["groups"] = new JsonArray(group),
        };
    }

    public static JsonObject ResourceList(string groupVersion)
    {
        var resources = new JsonArray();
        foreach (var type in All.Where(t => t.ApiVersion == groupVersion))
        {
            var entry = new JsonObject
            {
                ["name"] = type.Plural,
                ["singularName"] = type.Singular,
                ["namespaced"] = type.Namespaced,
                ["kind"] = type.Kind,
                ["verbs"] = new JsonArray(Crud.Select(v => (JsonNode?)v).ToArray()),
            };
            if (type.ShortNames.Length > 0)
            {
                entry["shortNames"] = new JsonArray(type.ShortNames.Select(v => (JsonNode?)v).ToArray());
            }

            if (AllCategory.Contains(type.Plural))
            {
                entry["categories"] = new JsonArray("all");
            }

            entry["storageVersionHash"] = type.StorageVersionHash;
            resources.Add(entry);
            foreach (var sub in type.Subresources)
            {
                var subEntry = new JsonObject
                {
                    ["name"] = type.Plural + "/" + sub,
                    ["singularName"] = "",
                    ["namespaced"] = type.Namespaced,
                };
                if (sub == "scale")
                {
                    subEntry["group"] = "autoscaling";
                    subEntry["version"] = "v1";
                    subEntry["kind"] = "Scale";
                    subEntry["verbs"] = new JsonArray("get", "patch", "update");
                }
                else if (sub == "log")
                {
                    subEntry["kind"] = type.Kind;
                    subEntry["verbs"] = new JsonArray("get");
                }
                else
                {
                    subEntry["kind"] = type.Kind;
                    subEntry["verbs"] = new JsonArray("get", "patch", "update");
                }

                resources.Add(subEntry);
            }
        }

        return new JsonObject
        {
            ["kind"] = "APIResourceList",
            ["apiVersion"] = "v1",
            ["groupVersion"] = groupVersion,
            ["resources"] = resources,
        };
    }

    /// <summary>/openapi/v3: the group-version documents (kubectl looks here for server-side field validation).</summary>
    public static JsonObject OpenApiRoot()
    {
        var paths = new JsonObject();
        foreach (var gv in new[] { "api/v1", "apis/apps/v1" })
        {
            paths[gv] = new JsonObject { ["serverRelativeURL"] = "/openapi/v3/" + gv + "?hash=" + StorageHash(gv) };
        }

        return new JsonObject { ["paths"] = paths };
    }

    private static string StorageHash(string gv) => Json.SafeEncode(Json.Fnv1a(System.Text.Encoding.UTF8.GetBytes(gv)).ToString(System.Globalization.CultureInfo.InvariantCulture)).ToUpperInvariant();

    /// <summary>A minimal OpenAPI v3 document for one group-version: the paths and their PATCH operations with the query parameters the server accepts.</summary>
    public static JsonObject? OpenApiGroupVersion(string gv)
    {
        var groupVersion = gv switch
        {
            "api/v1" => "v1",
            "apis/apps/v1" => "apps/v1",
            _ => null,
        };
        if (groupVersion is null)
        {
            return null;
        }

        JsonObject Param(string name, string @in, bool required = false) => new()
        {
            ["name"] = name,
            ["in"] = @in,
            ["required"] = required,
            ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true },
        };

        var paths = new JsonObject();
        foreach (var type in All.Where(t => t.ApiVersion == groupVersion))
        {
            var prefix = "/" + gv + (type.Namespaced ? "/namespaces/{namespace}/" : "/") + type.Plural + "/{name}";
            var gvk = new JsonObject { ["group"] = type.Group, ["kind"] = type.Kind, ["version"] = type.Version };
            var parameters = new JsonArray(Param("name", "path", true), Param("pretty", "query"));
            if (type.Namespaced)
            {
                parameters.Add(Param("namespace", "path", true));
            }

            JsonArray Writes() => new(Param("dryRun", "query"), Param("fieldManager", "query"), Param("fieldValidation", "query"));
            var put = Operation("replace", type, gvk, "put");
            put["parameters"] = Writes();
            var patch = Operation("patch", type, gvk, "patch");
            patch["parameters"] = Writes();
            ((JsonArray)patch["parameters"]!).Add(Param("force", "query"));
            paths[prefix] = new JsonObject
            {
                ["get"] = Operation("read", type, gvk, "get"),
                ["put"] = put,
                ["patch"] = patch,
                ["delete"] = Operation("delete", type, gvk, "delete"),
                ["parameters"] = parameters,
            };
        }

        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "Kubernetes", ["version"] = "v1.32.4" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = new JsonObject() },
        };
    }

    private static JsonObject Operation(string verb, ResourceType type, JsonObject gvk, string action) => new()
    {
        ["description"] = $"{verb} the specified {type.Kind}",
        ["operationId"] = verb + (type.Group.Length == 0 ? "Core" : "Apps") + "V1" + (type.Namespaced ? "Namespaced" : "") + type.Kind,
        ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
        ["x-kubernetes-action"] = action,
        ["x-kubernetes-group-version-kind"] = gvk.DeepClone(),
    };
}
