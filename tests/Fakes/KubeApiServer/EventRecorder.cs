using System.Globalization;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>Writes core/v1 Events as the controllers and the kubelet do, counting repeats into one Event.</summary>
public sealed class EventRecorder
{
    private readonly ObjectStore store;
    private readonly Dictionary<string, (string Namespace, string Name)> seen = new(StringComparer.Ordinal);
    private long lastNanos;

    public EventRecorder(ObjectStore store)
    {
        this.store = store;
    }

    public void Record(JsonObject involved, string type, string reason, string message, string component, string? host = null, string? fieldPath = null)
    {
        var ns = involved.Namespace() ?? "default";
        var key = string.Join('\u0001', involved.Uid(), reason, message, fieldPath ?? "", component, type);
        var now = DateTimeOffset.UtcNow;
        lock (seen)
        {
            if (seen.TryGetValue(key, out var existing))
            {
                var updated = store.Mutate(Catalog.Events, existing.Namespace, existing.Name, e =>
                {
                    e["count"] = (e.Long("count") ?? 1) + 1;
                    e["lastTimestamp"] = Json.Time(now);
                    return true;
                });
                if (updated is not null)
                {
                    return;
                }
            }

            var kind = involved.Str("kind") ?? "";
            var involvedObject = new JsonObject
            {
                ["kind"] = kind,
                ["namespace"] = ns,
                ["name"] = involved.Name(),
                ["uid"] = involved.Uid(),
                ["apiVersion"] = involved.Str("apiVersion"),
                ["resourceVersion"] = involved.Str("metadata", "resourceVersion"),
            };
            if (fieldPath is not null)
            {
                involvedObject["fieldPath"] = fieldPath;
            }

            var source = new JsonObject { ["component"] = component };
            if (host is not null)
            {
                source["host"] = host;
            }

            // As the real recorder: <object>.<unix nanoseconds in hex>, increasing so that lists keep the order events happened in.
            var nanos = Math.Max(now.ToUnixTimeMilliseconds() * 1_000_000, lastNanos + 1);
            lastNanos = nanos;
            var name = involved.Name() + "." + nanos.ToString("x", CultureInfo.InvariantCulture);
            var ev = new JsonObject
            {
                ["kind"] = "Event",
                ["apiVersion"] = "v1",
                ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = ns },
                ["involvedObject"] = involvedObject,
                ["reason"] = reason,
                ["message"] = message,
                ["source"] = source,
                ["firstTimestamp"] = Json.Time(now),
                ["lastTimestamp"] = Json.Time(now),
                ["count"] = 1,
                ["type"] = type,
                ["eventTime"] = null,
                ["reportingComponent"] = component,
                ["reportingInstance"] = host ?? "",
            };
            try
            {
                store.Create(Catalog.Events, ev);
                seen[key] = (ns, name);
            }
            catch (ApiException)
            {
                // A name clash within the same nanosecond bucket: the event is dropped, as a real recorder may drop one.
            }
        }
    }
}
