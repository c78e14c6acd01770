using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.FeatureFlag;

/// <summary>A flag defined in a JSON file: edited in memory, written whole (temp file and rename), the rest untouched.</summary>
internal abstract class FileFlagProvider : FlagProvider
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    protected FileFlagProvider(RollbackRequest request)
        : base(request)
    {
        FilePath = request.Path is { Length: > 0 } path && File.Exists(path)
            ? System.IO.Path.GetFullPath(path)
            : throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.ObjectNotFound,
                request.Path is null ? "The FeatureFlag strategy needs -Path with the flag file for this provider." : $"The flag file '{request.Path}' does not exist.")
            { TargetName = request.Path };
    }

    protected string FilePath { get; }
    public override string Location => FilePath;

    protected JsonObject Load()
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(FilePath), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new JsonException("the top level is not an object");
        }
        catch (JsonException e)
        {
            throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
                $"'{FilePath}' is not valid JSON ({e.Message}). Fix the file first; it was not changed.", e)
            { TargetName = FilePath };
        }
    }

    protected void Save(JsonObject document) => AtomicFile.WriteAllText(FilePath, document.ToJsonString(Indented) + Environment.NewLine);

    protected RollbackException FlagMissing(IEnumerable<string> known) => new(ErrorIds.FlagNotFound, RollbackErrorKind.ObjectNotFound,
        $"'{FilePath}' defines no flag '{Flag}'. Flags there: {string.Join(", ", known)}.") { TargetName = Flag };
}

/// <summary>
/// A flagd flag-definition file: "off" means the flag evaluates to its false (or "off") variant for everyone: the
/// default variant switched to it and targeting cleared. The recorded definition is put back to restore.
/// </summary>
internal sealed class FlagdFileProvider : FileFlagProvider
{
    public FlagdFileProvider(RollbackRequest request)
        : base(request)
    {
    }

    public override Task<FlagReading> ReadAsync(CancellationToken cancellation)
    {
        var definition = Definition(Load());
        var offVariant = OffVariant(definition);
        var off = (string?)definition["state"] == "DISABLED"
            || ((string?)definition["defaultVariant"] == offVariant && definition["targeting"] is not JsonObject { Count: > 0 });
        return Task.FromResult(new FlagReading(!off, definition.ToJsonString(), definition.DeepClone()));
    }

    public override Task WriteAsync(bool enabled, JsonNode? recordedDefinition, CancellationToken cancellation)
    {
        var document = Load();
        var flags = (JsonObject)document["flags"]!;
        if (enabled)
        {
            flags[Flag] = recordedDefinition?.DeepClone() ?? throw new RollbackException(ErrorIds.FlagRestoreStateMissing, RollbackErrorKind.InvalidOperation,
                $"No recorded definition of '{Flag}' to restore.");
        }
        else
        {
            var definition = Definition(document);
            definition["defaultVariant"] = OffVariant(definition);
            definition.Remove("targeting");
        }

        Save(document);
        return Task.CompletedTask;
    }

    private JsonObject Definition(JsonObject document)
    {
        var flags = document["flags"] as JsonObject ?? throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
            $"'{FilePath}' has no \"flags\" object: it is not a flagd flag definition.") { TargetName = FilePath };
        return flags[Flag] as JsonObject ?? throw FlagMissing(flags.Select(f => f.Key));
    }

    private string OffVariant(JsonObject definition)
    {
        var variants = definition["variants"] as JsonObject ?? new JsonObject();
        return variants.FirstOrDefault(v => v.Value is JsonValue value && value.TryGetValue<bool>(out var b) && !b).Key
            ?? (variants.ContainsKey("off") ? "off" : throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
                $"Flag '{Flag}' in '{FilePath}' has no false or \"off\" variant to switch to. Add one, or turn it off by hand.") { TargetName = Flag });
    }
}

/// <summary>
/// .NET feature management in appsettings.json: the classic "FeatureManagement": { "Flag": true | {...} } section, or the
/// Microsoft schema "feature_management": { "feature_flags": [ { "id": ..., "enabled": ... } ] }.
/// </summary>
internal sealed class FeatureManagementFileProvider : FileFlagProvider
{
    public FeatureManagementFileProvider(RollbackRequest request)
        : base(request)
    {
    }

    public override Task<FlagReading> ReadAsync(CancellationToken cancellation)
    {
        var document = Load();
        var (node, _) = Find(document);
        var on = node switch
        {
            JsonValue value when value.TryGetValue<bool>(out var b) => b,
            JsonObject entry when entry["enabled"] is JsonValue enabled && enabled.TryGetValue<bool>(out var b) => b,
            JsonObject => true,
            _ => (bool?)null,
        };
        return Task.FromResult(new FlagReading(on, node?.ToJsonString() ?? "null", node?.DeepClone()));
    }

    public override Task WriteAsync(bool enabled, JsonNode? recordedDefinition, CancellationToken cancellation)
    {
        var document = Load();
        var (node, set) = Find(document);
        if (enabled && recordedDefinition is not null)
        {
            set(recordedDefinition.DeepClone());
        }
        else if (node is JsonObject { } entry && entry.ContainsKey("id"))
        {
            entry["enabled"] = enabled;
        }
        else
        {
            set(JsonValue.Create(enabled));
        }

        Save(document);
        return Task.CompletedTask;
    }

    private (JsonNode? Node, Action<JsonNode> Set) Find(JsonObject document)
    {
        if (document["feature_management"]?["feature_flags"] is JsonArray list)
        {
            var entry = list.OfType<JsonObject>().FirstOrDefault(f => (string?)f["id"] == Flag) ?? throw FlagMissing(list.Select(f => (string?)f?["id"] ?? "?"));
            var index = list.IndexOf(entry);
            return (entry, replacement => list[index] = replacement);
        }

        if (document["FeatureManagement"] is JsonObject section)
        {
            if (!section.ContainsKey(Flag))
            {
                throw FlagMissing(section.Select(f => f.Key));
            }

            return (section[Flag], replacement => section[Flag] = replacement);
        }

        throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
            $"'{FilePath}' has no \"FeatureManagement\" section (nor \"feature_management\".\"feature_flags\"): it is not a .NET feature management file.")
        { TargetName = FilePath };
    }
}
