using System.Text.Json;
using System.Text.Json.Nodes;

namespace DeploymentRollback.Engine.FeatureFlag;

/// <summary>
/// A flag defined in a JSON file: read as a document, changed by replacing only the value that switches it (so formatting,
/// comments and every other byte stay), written whole (temp file and rename, through a link).
/// </summary>
internal abstract class FileFlagProvider : FlagProvider
{
    protected FileFlagProvider(RollbackRequest request)
        : base(request)
    {
        FilePath = request.DeploymentAs<FeatureFlagTarget>().Path is { Length: > 0 } path
            ? System.IO.Path.GetFullPath(path)
            : throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.ObjectNotFound, "The FeatureFlag strategy needs -Path with the flag file for this provider.");
        NamedFile.Resolve(FilePath, ErrorIds.FlagFileInvalid, "The flag file");
    }

    protected string FilePath { get; }
    public override string Location => FilePath;

    /// <summary>The file's text, decoded as <see cref="Config.ConfigText"/> does (its BOM, else UTF-8, else Latin-1), so that a save changes no other byte.</summary>
    protected string ReadText() => Config.ConfigText.Decode(NamedFile.Read(FilePath, ErrorIds.FlagFileInvalid, "The flag file")).Text;

    protected JsonObject Parse(string text)
    {
        try
        {
            var document = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new JsonException("the top level is not an object");
            // An object's properties are read on first use; a key given twice is found there.
            ThrowOnDuplicateKeys(document);
            return document;
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
                $"'{FilePath}' is not valid JSON ({e.Message}). Fix the file first; it was not changed.", e)
            { TargetName = FilePath };
        }
    }

    private static void ThrowOnDuplicateKeys(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var property in o)
                {
                    ThrowOnDuplicateKeys(property.Value);
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    ThrowOnDuplicateKeys(item);
                }

                break;
        }
    }

    /// <summary>The file's text with some values replaced (spans of the same text, in any order).</summary>
    protected void Save(string text, params ((int Start, int End) Span, string Value)[] edits)
    {
        foreach (var (span, value) in edits.OrderByDescending(e => e.Span.Start))
        {
            text = JsonValueSpan.Replace(text, span, value);
        }

        var encoding = Config.ConfigText.Decode(NamedFile.Read(FilePath, ErrorIds.FlagFileInvalid, "The flag file")).Encoding;
        AtomicFile.WriteAllBytes(FilePath, Config.ConfigText.Encode(text, encoding));
    }

    /// <summary>The source text of the value at a path (what a checkpoint keeps and -Restore puts back).</summary>
    protected static string SourceOf(string text, (int Start, int End) span) => text[span.Start..span.End];

    protected (int Start, int End) Require((int Start, int End)? span, string what) => span ?? throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
        $"'{FilePath}' has no {what} where it was read a moment ago; it changed meanwhile. Run the command again.") { TargetName = FilePath };

    protected RollbackException RestoreSourceMissing() => new(ErrorIds.FlagRestoreStateMissing, RollbackErrorKind.InvalidOperation,
        $"No recorded definition of '{Flag}' in '{FilePath}' to restore. Turn it back on by hand.") { TargetName = Flag };

    protected RollbackException FlagMissing(IEnumerable<string> known) => new(ErrorIds.FlagNotFound, RollbackErrorKind.ObjectNotFound,
        $"'{FilePath}' defines no flag '{Flag}'. Flags there: {string.Join(", ", known)}.") { TargetName = Flag };
}

/// <summary>
/// A flagd flag-definition file: "off" means the flag evaluates to its false (or "off") variant for everyone: the
/// default variant switched to it and targeting emptied. The recorded definition (its source text) is put back to restore.
/// </summary>
internal sealed class FlagdFileProvider : FileFlagProvider
{
    public FlagdFileProvider(RollbackRequest request)
        : base(request)
    {
    }

    public override Task<FlagReading> ReadAsync(CancellationToken cancellation)
    {
        var text = ReadText();
        var definition = Definition(Parse(text));
        var offVariant = OffVariant(definition);
        var off = (string?)definition["state"] == "DISABLED"
            || ((string?)definition["defaultVariant"] == offVariant && definition["targeting"] is not JsonObject { Count: > 0 });
        return Task.FromResult(new FlagReading(!off, SourceOf(text, Require(JsonValueSpan.Find(text, "flags", Flag), $"flag '{Flag}'")), null));
    }

    public override Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation)
    {
        var text = ReadText();
        var definition = Definition(Parse(text));
        if (enabled)
        {
            Save(text, (Require(JsonValueSpan.Find(text, "flags", Flag), $"flag '{Flag}'"), recordedDefinition ?? throw RestoreSourceMissing()));
            return Task.CompletedTask;
        }

        // Off: the default variant becomes the off variant and the targeting rules are emptied.
        var offVariant = JsonSerializer.Serialize(OffVariant(definition));
        var edits = new List<((int, int), string)>();
        edits.Add(JsonValueSpan.Find(text, "flags", Flag, "defaultVariant") is { } variant
            ? (variant, offVariant)
            : (Require(JsonValueSpan.Find(text, "flags", Flag), $"flag '{Flag}'"), WithMember(definition, "defaultVariant", offVariant)));
        if (JsonValueSpan.Find(text, "flags", Flag, "targeting") is { } targeting)
        {
            edits.Add((targeting, "{}"));
        }

        Save(text, edits.ToArray());
        return Task.CompletedTask;
    }

    /// <summary>A definition without the member: the whole definition written compactly with it added (the rare case).</summary>
    private static string WithMember(JsonObject definition, string name, string json)
    {
        var copy = (JsonObject)definition.DeepClone();
        copy[name] = JsonNode.Parse(json);
        return copy.ToJsonString();
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
        var text = ReadText();
        var (node, path) = Find(Parse(text));
        var on = node switch
        {
            JsonValue value when value.TryGetValue<bool>(out var b) => b,
            JsonObject entry when entry["enabled"] is JsonValue enabled && enabled.TryGetValue<bool>(out var b) => b,
            JsonObject => true,
            _ => (bool?)null,
        };
        return Task.FromResult(new FlagReading(on, JsonValueSpan.Find(text, path) is { } span ? SourceOf(text, span) : "null", null));
    }

    public override Task WriteAsync(bool enabled, string? recordedDefinition, CancellationToken cancellation)
    {
        var text = ReadText();
        var (node, path) = Find(Parse(text));
        var value = Require(JsonValueSpan.Find(text, path), $"flag '{Flag}'");
        if (enabled && recordedDefinition is not null)
        {
            Save(text, (value, recordedDefinition));
        }
        else if (node is JsonObject entry && entry.ContainsKey("id"))
        {
            Save(text, JsonValueSpan.Find(text, [.. path, "enabled"]) is { } flag
                ? (flag, enabled ? "true" : "false")
                : (value, AddEnabled(entry, enabled)));
        }
        else
        {
            Save(text, (value, enabled ? "true" : "false"));
        }

        return Task.CompletedTask;
    }

    private static string AddEnabled(JsonObject entry, bool enabled)
    {
        var copy = (JsonObject)entry.DeepClone();
        copy["enabled"] = enabled;
        return copy.ToJsonString();
    }

    /// <summary>The flag's node and its path in the document.</summary>
    private (JsonNode? Node, object[] Path) Find(JsonObject document)
    {
        if (document["feature_management"]?["feature_flags"] is JsonArray list)
        {
            var entry = list.OfType<JsonObject>().FirstOrDefault(f => (string?)f["id"] == Flag) ?? throw FlagMissing(list.Select(f => (string?)f?["id"] ?? "?"));
            return (entry, new object[] { "feature_management", "feature_flags", list.IndexOf(entry) });
        }

        if (document["FeatureManagement"] is JsonObject section)
        {
            if (!section.ContainsKey(Flag))
            {
                throw FlagMissing(section.Select(f => f.Key));
            }

            return (section[Flag], new object[] { "FeatureManagement", Flag });
        }

        throw new RollbackException(ErrorIds.FlagFileInvalid, RollbackErrorKind.InvalidArgument,
            $"'{FilePath}' has no \"FeatureManagement\" section (nor \"feature_management\".\"feature_flags\"): it is not a .NET feature management file.")
        { TargetName = FilePath };
    }
}
