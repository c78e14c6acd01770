using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace DeploymentRollback.Engine;

/// <summary>The formats whose structure the redaction follows.</summary>
public enum DocumentKind
{
    Text,
    Json,
    Yaml,
    Ini,
    DotEnv,
}

/// <summary>
/// One value of a document: its key path (database.password, servers[1].token) and where its source text is. Forced: a
/// secret by its place rather than its key (the argument after --db-password in a list, an anchor a secret key refers to).
/// Alias: a YAML alias (*name) under a secret key, kept as it is (the value it names is masked at its anchor).
/// </summary>
public sealed record SecretValue(string Path, int Start, int Length, bool Forced = false, bool Alias = false);

/// <summary>
/// Redaction by structure: every scalar of a YAML, JSON, INI or .env document whose key path names a secret (or whose value
/// is one, such as a PEM private key or a URL with credentials) is masked in place, the rest of the text kept as it is. A
/// redacted copy can later be filled again from the live file, path by path (<see cref="Refill"/>): never by bare key name.
/// </summary>
public static class DocumentSecrets
{
    private const string QuotedMask = "\"" + SecretRedactor.Mask + "\"";

    public static DocumentKind Detect(string fileName, string text)
    {
        var name = Path.GetFileName(fileName).ToLowerInvariant();
        var extension = Path.GetExtension(name);
        if (name == ".env" || name.StartsWith(".env.", StringComparison.Ordinal) || extension == ".env")
        {
            return DocumentKind.DotEnv;
        }

        return extension switch
        {
            ".json" => DocumentKind.Json,
            ".yml" or ".yaml" => DocumentKind.Yaml,
            ".ini" or ".cfg" or ".conf" or ".properties" or ".toml" => DocumentKind.Ini,
            ".txt" or ".log" or ".md" or ".diff" or ".patch" => DocumentKind.Text,
            _ => text.TrimStart().StartsWith('{') || text.TrimStart().StartsWith('[') ? DocumentKind.Json : DocumentKind.Yaml,
        };
    }

    /// <summary>The document with its secrets masked, by structure when it parses, else line by line as free text.</summary>
    public static string Redact(string text, string fileName)
    {
        var kind = Detect(fileName, text);
        var secrets = Find(text, kind);
        if (secrets is null && kind == DocumentKind.Yaml && !string.IsNullOrWhiteSpace(text))
        {
            secrets = Find(text, DocumentKind.Ini);
            kind = DocumentKind.Ini;
        }

        if (secrets is null)
        {
            return SecretRedactor.Redact(text);
        }

        var output = new StringBuilder(text.Length);
        var position = 0;
        foreach (var secret in secrets)
        {
            // Between the values: structure and comments, which may still hold a secret (a commented-out password).
            output.Append(SecretRedactor.Redact(text[position..secret.Start]));
            if (secret.Alias)
            {
                output.Append(text, secret.Start, secret.Length);
                position = secret.Start + secret.Length;
                continue;
            }

            output.Append(MaskValue(text.Substring(secret.Start, secret.Length), kind, IsSecretByName(secret)));
            position = secret.Start + secret.Length;
        }

        return output.Append(SecretRedactor.Redact(text[position..])).ToString();
    }

    /// <summary>
    /// Fills the masked values of a redacted copy from the live document, each from the same key path, and only where the
    /// live value redacts to exactly what the copy holds. Returns the text and the paths that could not be filled (a secret
    /// that no longer exists, moved, or a masked comment).
    /// </summary>
    public static (string Text, IReadOnlyList<string> Unrestorable) Refill(string redacted, string live, string fileName)
    {
        var kind = Detect(fileName, redacted);
        var masked = Find(redacted, kind);
        var current = Find(live, kind);
        if (masked is null || current is null)
        {
            return (redacted, redacted.Contains(SecretRedactor.Mask, StringComparison.Ordinal) ? new[] { "(the document does not parse as " + kind + ")" } : Array.Empty<string>());
        }

        var livePaths = new Dictionary<string, SecretValue>(StringComparer.Ordinal);
        foreach (var value in current)
        {
            livePaths.TryAdd(value.Path, value);
        }

        var unrestorable = new List<string>();
        var output = new StringBuilder(live.Length);
        var position = 0;
        foreach (var value in masked)
        {
            var gap = redacted[position..value.Start];
            if (gap.Contains(SecretRedactor.Mask, StringComparison.Ordinal))
            {
                unrestorable.Add($"(text before {value.Path})");
            }

            output.Append(gap);
            var source = redacted.Substring(value.Start, value.Length);
            position = value.Start + value.Length;
            if (!source.Contains(SecretRedactor.Mask, StringComparison.Ordinal))
            {
                output.Append(source);
                continue;
            }

            var secretKey = IsSecretByName(value);
            if (livePaths.TryGetValue(value.Path, out var liveValue) && live.Substring(liveValue.Start, liveValue.Length) is var liveSource
                && MaskValue(liveSource, kind, secretKey) == source)
            {
                output.Append(liveSource);
            }
            else
            {
                unrestorable.Add(value.Path);
                output.Append(source);
            }
        }

        var tail = redacted[position..];
        if (tail.Contains(SecretRedactor.Mask, StringComparison.Ordinal))
        {
            unrestorable.Add("(text after the last value)");
        }

        return (output.Append(tail).ToString(), unrestorable);
    }

    /// <summary>The values to mask, in document order; null when the text does not parse as that kind.</summary>
    public static IReadOnlyList<SecretValue>? Find(string text, DocumentKind kind)
    {
        try
        {
            var all = kind switch
            {
                DocumentKind.Json => ScanJson(text),
                DocumentKind.Yaml => ScanYaml(text),
                DocumentKind.Ini => ScanLines(text, sections: true),
                DocumentKind.DotEnv => ScanLines(text, sections: false),
                _ => null,
            };
            return all?.Where(v => v.Alias || IsSecret(v, text)).OrderBy(v => v.Start).ToList();
        }
        catch (Exception e) when (e is YamlException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    private static bool IsSecret(SecretValue value, string text)
    {
        var source = text.Substring(value.Start, value.Length);
        return source.Length > 0 && (IsSecretByName(value) || SecretRedactor.LooksLikeSecretValue(source) || SecretRedactor.Redact(source) != source);
    }

    private static void ForgetPrevious(List<YamlContainer> stack)
    {
        if (stack.Count > 0)
        {
            stack[^1].Previous = null;
        }
    }

    private static bool IsSecretByName(SecretValue value) => value.Forced || SecretRedactor.IsSecretKey(LastKey(value.Path));

    /// <summary>A value in a list right after an option named like a secret (["--db-password", "value"]).</summary>
    private static bool FollowsSecretOption(List<YamlContainer> stack) =>
        stack.Count > 0 && !stack[^1].IsMapping && stack[^1].Previous is { } previous && SecretRedactor.IsSecretOption(previous);

    private static string MaskValue(string source, DocumentKind kind, bool secretKey)
    {
        if (!secretKey && !SecretRedactor.LooksLikeSecretValue(source))
        {
            return SecretRedactor.Redact(source);
        }

        // Quoted in YAML (a bare *** starts an alias) and JSON; as the value was in INI and .env.
        return kind is DocumentKind.Json or DocumentKind.Yaml || source.StartsWith('"') ? QuotedMask : SecretRedactor.Mask;
    }

    private static string LastKey(string path)
    {
        var end = path.Length;
        while (end > 0 && path[end - 1] == ']')
        {
            end = path.LastIndexOf('[', end - 1);
        }

        var trimmed = path[..Math.Max(0, end)];
        var dot = trimmed.LastIndexOf('.');
        return dot < 0 ? trimmed : trimmed[(dot + 1)..];
    }

    private static List<SecretValue> ScanJson(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        var values = new List<SecretValue>();
        var stack = new List<YamlContainer>();
        string? pendingKey = null;
        var charIndex = new ByteToCharIndex(bytes);
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    pendingKey = reader.GetString();
                    break;
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    ForgetPrevious(stack);
                    stack.Add(new YamlContainer(JsonSegment(stack, ref pendingKey), isMapping: reader.TokenType == JsonTokenType.StartObject));
                    break;
                case JsonTokenType.EndObject or JsonTokenType.EndArray:
                    stack.RemoveAt(stack.Count - 1);
                    break;
                default:
                    var forced = FollowsSecretOption(stack);
                    var segment = JsonSegment(stack, ref pendingKey);
                    var start = (int)reader.TokenStartIndex;
                    var length = reader.ValueSpan.Length + (reader.TokenType == JsonTokenType.String ? 2 : 0);
                    var from = charIndex.At(start);
                    values.Add(new SecretValue(PathOf(stack, segment), from, charIndex.At(start + length) - from, forced));
                    if (stack.Count > 0 && !stack[^1].IsMapping)
                    {
                        stack[^1].Previous = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }

                    break;
            }
        }

        return values;
    }

    /// <summary>The key of the value about to start in an object, or its [index] in an array.</summary>
    private static string? JsonSegment(List<YamlContainer> stack, ref string? pendingKey)
    {
        if (stack.Count > 0 && !stack[^1].IsMapping)
        {
            return ValueSegment(stack);
        }

        var key = pendingKey;
        pendingKey = null;
        return key;
    }

    private static string PathOf(List<YamlContainer> stack, string? last) =>
        string.Join('.', stack.Select(c => c.Segment).Append(last).Where(s => s is not null)).Replace(".[", "[");

    private static List<SecretValue> ScanYaml(string text)
    {
        var parser = new Parser(new StringReader(text));
        var values = new List<SecretValue>();
        var containers = 0;
        // Each open container: a mapping (expecting a key, or holding the key of the value to come) or a sequence (its index).
        var stack = new List<YamlContainer>();
        var anchors = new Dictionary<string, int>(StringComparer.Ordinal);
        var document = -1;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case DocumentStart:
                    document++;
                    break;
                case MappingStart:
                    ForgetPrevious(stack);
                    containers++;
                    stack.Add(new YamlContainer(ValueSegment(stack), isMapping: true));
                    break;
                case SequenceStart:
                    ForgetPrevious(stack);
                    containers++;
                    stack.Add(new YamlContainer(ValueSegment(stack), isMapping: false));
                    break;
                case MappingEnd or SequenceEnd:
                    stack.RemoveAt(stack.Count - 1);
                    if (stack.Count > 0 && stack[^1].IsMapping)
                    {
                        stack[^1].Key = null;
                    }

                    break;
                case Scalar scalar when stack.Count > 0 && stack[^1].IsMapping && stack[^1].Key is null:
                    stack[^1].Key = scalar.Value;
                    break;
                case Scalar scalar:
                    var forced = FollowsSecretOption(stack);
                    var segment = ValueSegment(stack);
                    var start = (int)scalar.Start.Index;
                    var end = (int)scalar.End.Index;
                    while (end > start && char.IsWhiteSpace(text[end - 1]))
                    {
                        end--;
                    }

                    // The anchor (&name) is not part of the value: masking it would leave its aliases dangling.
                    if (!scalar.Anchor.IsEmpty && string.CompareOrdinal(text, start, "&" + scalar.Anchor.Value, 0, scalar.Anchor.Value.Length + 1) == 0)
                    {
                        start += scalar.Anchor.Value.Length + 1;
                        while (start < end && text[start] is ' ' or '\t' or '\r' or '\n')
                        {
                            start++;
                        }
                    }

                    if (!scalar.Anchor.IsEmpty)
                    {
                        anchors[scalar.Anchor.Value] = values.Count;
                    }

                    values.Add(new SecretValue(InDocument(PathOf(stack, segment)), start, end - start, forced));
                    if (stack.Count > 0)
                    {
                        if (stack[^1].IsMapping)
                        {
                            stack[^1].Key = null;
                        }
                        else
                        {
                            stack[^1].Previous = scalar.Value;
                        }
                    }

                    break;
                case AnchorAlias alias when stack.Count > 0:
                    if (stack[^1].IsMapping && stack[^1].Key is null)
                    {
                        throw new InvalidOperationException("An alias as a mapping key is not followed.");
                    }

                    // password: *shared, or --token then *shared in a list: the anchored value is the secret.
                    var secretPlace = FollowsSecretOption(stack);
                    var aliasPath = PathOf(stack, ValueSegment(stack));
                    if ((secretPlace || SecretRedactor.IsSecretKey(LastKey(aliasPath))) && anchors.TryGetValue(alias.Value.Value, out var anchored))
                    {
                        values[anchored] = values[anchored] with { Forced = true };
                        // Kept as it is: the free-text pass over the structure would take *name for a password.
                        values.Add(new SecretValue(InDocument(aliasPath), (int)alias.Start.Index, alias.Value.Value.Length + 1, Alias: true));
                    }

                    if (stack[^1].IsMapping)
                    {
                        stack[^1].Key = null;
                    }
                    else
                    {
                        stack[^1].Previous = null;
                    }

                    break;
            }
        }

        // A lone scalar (a log line, prose) is text, not a document with keys.
        return containers > 0 ? values : throw new InvalidOperationException("Not a YAML mapping or sequence.");

        // Paths in the second and later documents of a stream start with the document's index.
        string InDocument(string path) => document > 0 ? $"[{document}].{path}" : path;
    }

    /// <summary>The path segment of the value about to start in the innermost container (and advances a sequence's index).</summary>
    private static string? ValueSegment(List<YamlContainer> stack)
    {
        if (stack.Count == 0)
        {
            return null;
        }

        var top = stack[^1];
        if (top.IsMapping)
        {
            return top.Key;
        }

        top.Index++;
        return $"[{top.Index}]";
    }

    private static List<SecretValue> ScanLines(string text, bool sections)
    {
        var values = new List<SecretValue>();
        var section = "";
        var lineStart = 0;
        while (lineStart <= text.Length)
        {
            var lineEnd = text.IndexOf('\n', lineStart) is var n and >= 0 ? n : text.Length;
            var line = text.AsSpan(lineStart, lineEnd - lineStart).TrimEnd('\r');
            var trimmed = line.Trim();
            if (sections && trimmed.StartsWith("[") && trimmed.EndsWith("]"))
            {
                section = trimmed[1..^1].Trim().ToString();
            }
            else if (trimmed.Length > 0 && trimmed[0] is not ('#' or ';'))
            {
                var separator = line.IndexOfAny('=', sections ? ':' : '=');
                if (separator <= 0)
                {
                    throw new InvalidOperationException("A line without a key and value.");
                }

                var key = line[..separator].Trim().ToString();
                if (!sections && key.StartsWith("export ", StringComparison.Ordinal))
                {
                    key = key[7..].Trim();
                }

                var valueStart = separator + 1;
                while (valueStart < line.Length && line[valueStart] is ' ' or '\t')
                {
                    valueStart++;
                }

                var valueEnd = line.Length;
                while (valueEnd > valueStart && char.IsWhiteSpace(line[valueEnd - 1]))
                {
                    valueEnd--;
                }

                values.Add(new SecretValue(section.Length > 0 ? section + "." + key : key, lineStart + valueStart, valueEnd - valueStart));
            }

            lineStart = lineEnd + 1;
        }

        return values;
    }

    /// <summary>An open mapping/object (and the key of the value to come) or sequence/array (and its last index).</summary>
    private sealed class YamlContainer(string? segment, bool isMapping)
    {
        public string? Segment { get; } = segment;
        public bool IsMapping { get; } = isMapping;
        public string? Key { get; set; }
        public int Index { get; set; } = -1;

        /// <summary>In a list: the scalar before the value to come (an option such as --db-password), else null.</summary>
        public string? Previous { get; set; }
    }

    /// <summary>Maps UTF-8 byte offsets (the JSON reader's) to string offsets, moving forward only.</summary>
    private sealed class ByteToCharIndex(byte[] bytes)
    {
        private int byteOffset;
        private int charOffset;

        public int At(int offset)
        {
            if (offset < byteOffset)
            {
                byteOffset = 0;
                charOffset = 0;
            }

            charOffset += Encoding.UTF8.GetCharCount(bytes, byteOffset, offset - byteOffset);
            byteOffset = offset;
            return charOffset;
        }
    }
}
