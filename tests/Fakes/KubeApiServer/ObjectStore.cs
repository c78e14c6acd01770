using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace DeploymentRollback.Fakes.Kube;

/// <summary>How a write treats spec, status and generation, as the real registry strategies do.</summary>
public enum WriteMode
{
    /// <summary>A write to the main resource: status is kept from the stored object; spec changes bump generation.</summary>
    Main,

    /// <summary>A write to the status subresource: spec (and labels) kept; no generation bump.</summary>
    Status,

    /// <summary>A controller's write: taken as given; spec changes bump generation.</summary>
    Internal,
}

/// <summary>A change, as a watch sees it.</summary>
public sealed record StoredEvent(long ResourceVersion, ResourceType Type, string EventType, JsonObject? Old, JsonObject Object);

/// <summary>A watch's view of the store: the backlog after the requested resourceVersion, then live changes.</summary>
public sealed class Subscription : IDisposable
{
    private readonly ObjectStore store;

    internal Subscription(ObjectStore store, ResourceType type, string? @namespace, List<StoredEvent> backlog, long startResourceVersion)
    {
        this.store = store;
        StartResourceVersion = startResourceVersion;
        Type = type;
        Namespace = @namespace;
        Backlog = backlog;
    }

    public ResourceType Type { get; }
    public string? Namespace { get; }
    public List<StoredEvent> Backlog { get; }

    /// <summary>The store's resourceVersion when the watch started.</summary>
    public long StartResourceVersion { get; }
    public Channel<StoredEvent> Live { get; } = Channel.CreateUnbounded<StoredEvent>();

    public void Dispose() => store.Unsubscribe(this);
}

/// <summary>The objects, a global resourceVersion, a change log for watches, and change notifications for the controllers.</summary>
public sealed class ObjectStore
{
    private const int LogCapacity = 50_000;
    private readonly object gate = new();
    private readonly Dictionary<string, SortedDictionary<string, JsonObject>> data = new();
    private readonly LinkedList<StoredEvent> log = new();
    private readonly List<Subscription> subscriptions = new();
    private long resourceVersion = 1000;
    private long oldestRetained = 1000;

    /// <summary>Raised after every write (outside the lock).</summary>
    public event Action? Changed;

    public long ResourceVersion
    {
        get
        {
            lock (gate)
            {
                return resourceVersion;
            }
        }
    }

    private static string KeyOf(string? ns, string name) => (ns ?? "") + "/" + name;

    private SortedDictionary<string, JsonObject> Table(ResourceType type)
    {
        if (!data.TryGetValue(type.Key, out var table))
        {
            table = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            data[type.Key] = table;
        }

        return table;
    }

    public JsonObject? Get(ResourceType type, string? ns, string name)
    {
        lock (gate)
        {
            return Table(type).TryGetValue(KeyOf(type.Namespaced ? ns : null, name), out var obj) ? obj.Clone() : null;
        }
    }

    public (List<JsonObject> Items, long ResourceVersion) List(ResourceType type, string? ns = null)
    {
        lock (gate)
        {
            var items = Table(type).Values
                .Where(o => ns is null || !type.Namespaced || o.Namespace() == ns)
                .Select(o => o.Clone())
                .ToList();
            return (items, resourceVersion);
        }
    }

    /// <summary>Clones of the objects of a type that match, filtered before cloning (controllers ask this for every owner on every pass).</summary>
    public List<JsonObject> List(ResourceType type, string? ns, Func<JsonObject, bool> where)
    {
        lock (gate)
        {
            return Table(type).Values
                .Where(o => (ns is null || !type.Namespaced || o.Namespace() == ns) && where(o))
                .Select(o => o.Clone())
                .ToList();
        }
    }

    /// <summary>Clones of the objects (but Events) that have owner references and none of whose owners exists any more.</summary>
    public List<(ResourceType Type, JsonObject Object)> Orphans()
    {
        lock (gate)
        {
            var types = Catalog.All.Where(t => t != Catalog.Events).ToList();
            var uids = types.SelectMany(t => Table(t).Values.Select(o => o.Uid())).ToHashSet(StringComparer.Ordinal);
            return types.SelectMany(t => Table(t).Values
                    .Where(o => Json.Walk(o, "metadata", "ownerReferences") is JsonArray { Count: > 0 } owners
                        && !owners.OfType<JsonObject>().Any(r => uids.Contains(r.Str("uid") ?? "")))
                    .Select(o => (t, o.Clone())))
                .ToList();
        }
    }

    /// <summary>Every object of every type but Events (clones), for the garbage collector.</summary>
    public List<(ResourceType Type, JsonObject Object)> Everything()
    {
        lock (gate)
        {
            return Catalog.All.Where(t => t != Catalog.Events).SelectMany(t => Table(t).Values.Select(o => (t, o.Clone()))).ToList();
        }
    }

    public JsonObject Create(ResourceType type, JsonObject obj, bool dryRun = false)
    {
        JsonObject stored;
        lock (gate)
        {
            var meta = obj.Meta();
            var table = Table(type);
            var name = obj.Name();
            var key = KeyOf(type.Namespaced ? obj.Namespace() : null, name);
            if (table.ContainsKey(key))
            {
                throw ApiException.AlreadyExists(type, name);
            }

            meta["uid"] = Guid.NewGuid().ToString();
            meta["creationTimestamp"] = Json.Time(DateTimeOffset.UtcNow);
            if (type.HasGeneration)
            {
                meta["generation"] = 1;
            }

            if (dryRun)
            {
                meta["resourceVersion"] = resourceVersion.ToString(CultureInfo.InvariantCulture);
                return obj.Clone();
            }

            meta["resourceVersion"] = (++resourceVersion).ToString(CultureInfo.InvariantCulture);
            Json.TidyMeta(obj);
            stored = obj.Clone();
            table[key] = stored;
            Record(new StoredEvent(resourceVersion, type, "ADDED", null, stored.Clone()));
        }

        Changed?.Invoke();
        return stored.Clone();
    }

    /// <summary>Replaces an object. expectedResourceVersion (when given) must match, else 409 Conflict.</summary>
    public JsonObject Update(ResourceType type, JsonObject obj, WriteMode mode, string? expectedResourceVersion = null, bool dryRun = false)
    {
        JsonObject result;
        var changed = false;
        lock (gate)
        {
            var table = Table(type);
            var name = obj.Name();
            var key = KeyOf(type.Namespaced ? obj.Namespace() : null, name);
            if (!table.TryGetValue(key, out var old))
            {
                throw ApiException.NotFound(type, name);
            }

            var currentRv = old.Str("metadata", "resourceVersion");
            if (!string.IsNullOrEmpty(expectedResourceVersion) && expectedResourceVersion != currentRv)
            {
                throw ApiException.Conflict(type, name);
            }

            var next = obj.Clone();
            Prepare(type, old, next, mode);
            Json.TidyMeta(next);
            var oldCompare = old.Clone();
            oldCompare.Meta().Remove("resourceVersion");
            var nextCompare = next.Clone();
            nextCompare.Meta().Remove("resourceVersion");
            if (Json.Same(oldCompare, nextCompare) || dryRun)
            {
                // A no-op write does not touch storage, as in the real server.
                next.Meta()["resourceVersion"] = currentRv;
                result = next;
            }
            else
            {
                next.Meta()["resourceVersion"] = (++resourceVersion).ToString(CultureInfo.InvariantCulture);
                table[key] = next;
                Record(new StoredEvent(resourceVersion, type, "MODIFIED", old.Clone(), next.Clone()));
                changed = true;
                result = next.Clone();
            }
        }

        if (changed)
        {
            Changed?.Invoke();
        }

        return result;
    }

    /// <summary>A controller's read-modify-write, atomic; change returns false when it made no change.</summary>
    public JsonObject? Mutate(ResourceType type, string? ns, string name, Func<JsonObject, bool> change, WriteMode mode = WriteMode.Internal)
    {
        lock (gate)
        {
            if (!Table(type).TryGetValue(KeyOf(type.Namespaced ? ns : null, name), out var current))
            {
                return null;
            }

            var copy = current.Clone();
            if (!change(copy))
            {
                return current.Clone();
            }

            return Update(type, copy, mode);
        }
    }

    public JsonObject? Delete(ResourceType type, string? ns, string name, string? expectedUid = null, string? expectedResourceVersion = null, bool dryRun = false)
    {
        JsonObject? removed;
        lock (gate)
        {
            var table = Table(type);
            var key = KeyOf(type.Namespaced ? ns : null, name);
            if (!table.TryGetValue(key, out removed))
            {
                return null;
            }

            if (!string.IsNullOrEmpty(expectedUid) && expectedUid != removed.Uid())
            {
                throw new ApiException(409, "Conflict", $"Operation cannot be fulfilled on {type.QualifiedName} \"{name}\": Precondition failed: UID in precondition: {expectedUid}, UID in object meta: {removed.Uid()}",
                    new JsonObject { ["name"] = name, ["group"] = type.Group, ["kind"] = type.Plural });
            }

            if (!string.IsNullOrEmpty(expectedResourceVersion) && expectedResourceVersion != removed.Str("metadata", "resourceVersion"))
            {
                throw ApiException.Conflict(type, name);
            }

            if (dryRun)
            {
                return removed.Clone();
            }

            table.Remove(key);
            var gone = removed.Clone();
            gone.Meta()["resourceVersion"] = (++resourceVersion).ToString(CultureInfo.InvariantCulture);
            Record(new StoredEvent(resourceVersion, type, "DELETED", removed.Clone(), gone));
            removed = gone;
        }

        Changed?.Invoke();
        return removed.Clone();
    }

    /// <summary>Starts a watch. fromResourceVersion null: the current objects as ADDED first. Too old: 410 Expired.</summary>
    public Subscription Watch(ResourceType type, string? ns, long? fromResourceVersion)
    {
        lock (gate)
        {
            var backlog = new List<StoredEvent>();
            if (fromResourceVersion is null)
            {
                foreach (var obj in Table(type).Values.Where(o => ns is null || !type.Namespaced || o.Namespace() == ns))
                {
                    backlog.Add(new StoredEvent(resourceVersion, type, "ADDED", null, obj.Clone()));
                }
            }
            else
            {
                if (fromResourceVersion.Value < oldestRetained)
                {
                    throw ApiException.Gone($"too old resource version: {fromResourceVersion.Value} ({oldestRetained})");
                }

                foreach (var e in log)
                {
                    if (e.ResourceVersion > fromResourceVersion.Value && e.Type == type && (ns is null || !type.Namespaced || e.Object.Namespace() == ns))
                    {
                        backlog.Add(e);
                    }
                }
            }

            var subscription = new Subscription(this, type, ns, backlog, resourceVersion);
            subscriptions.Add(subscription);
            return subscription;
        }
    }

    internal void Unsubscribe(Subscription subscription)
    {
        lock (gate)
        {
            subscriptions.Remove(subscription);
        }

        subscription.Live.Writer.TryComplete();
    }

    private void Record(StoredEvent e)
    {
        log.AddLast(e);
        while (log.Count > LogCapacity)
        {
            oldestRetained = log.First!.Value.ResourceVersion;
            log.RemoveFirst();
        }

        foreach (var s in subscriptions)
        {
            if (s.Type == e.Type && (s.Namespace is null || !e.Type.Namespaced || e.Object.Namespace() == s.Namespace))
            {
                s.Live.Writer.TryWrite(e);
            }
        }
    }

    /// <summary>What the real registry strategies do on update: keep system fields, keep status or spec, bump generation.</summary>
    private static void Prepare(ResourceType type, JsonObject old, JsonObject next, WriteMode mode)
    {
        var meta = next.Meta();
        var oldMeta = old.Meta();
        foreach (var system in new[] { "uid", "creationTimestamp", "namespace", "name" })
        {
            if (oldMeta[system] is not null)
            {
                meta[system] = oldMeta[system]!.DeepClone();
            }
        }

        meta["generation"] = oldMeta["generation"]?.DeepClone();
        if (meta["generation"] is null)
        {
            meta.Remove("generation");
        }

        if (oldMeta["deletionTimestamp"] is not null)
        {
            meta["deletionTimestamp"] = oldMeta["deletionTimestamp"]!.DeepClone();
        }

        next["kind"] = type.Kind;
        next["apiVersion"] = type.ApiVersion;
        switch (mode)
        {
            case WriteMode.Main:
                if (type.HasStatus)
                {
                    if (old["status"] is not null)
                    {
                        next["status"] = old["status"]!.DeepClone();
                    }
                    else
                    {
                        next.Remove("status");
                    }
                }

                break;
            case WriteMode.Status:
                if (old["spec"] is not null)
                {
                    next["spec"] = old["spec"]!.DeepClone();
                }

                if (oldMeta["labels"] is not null)
                {
                    meta["labels"] = oldMeta["labels"]!.DeepClone();
                }
                else
                {
                    meta.Remove("labels");
                }

                return;
        }

        if (!type.HasGeneration)
        {
            return;
        }

        var bump = !Json.Same(old["spec"], next["spec"]);
        if (mode == WriteMode.Main && type == Catalog.Deployments && !Json.Same(oldMeta["annotations"], meta["annotations"] is JsonObject { Count: 0 } ? null : meta["annotations"]))
        {
            bump = true;
        }

        if (bump)
        {
            meta["generation"] = (old.Long("metadata", "generation") ?? 0) + 1;
        }
    }
}
