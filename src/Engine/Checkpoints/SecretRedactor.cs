using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>Removes secrets before anything is written to a checkpoint, signal, report or log.</summary>
public static partial class SecretRedactor
{
    public const string Mask = "***REDACTED***";

    private const string SecretKey = @"[A-Za-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credential|authorization|auth[_\-]?token|connectionstring|connection_string)[A-Za-z0-9_.\-]*";

    [GeneratedRegex(@"^" + SecretKey + "$", RegexOptions.IgnoreCase)]
    private static partial Regex SecretKeyName();

    // key=value, key: value, "key": "value" (the key named like a secret); the value runs to the end of the quoted string or the token.
    [GeneratedRegex("(?<key>\"?" + SecretKey + "\"?\\s*[:=]\\s*)(?<quote>\"?)(?<value>[^\\s\"',;]+)", RegexOptions.IgnoreCase)]
    private static partial Regex SecretAssignment();

    [GeneratedRegex(@"(?<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*", RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationValue();

    [GeneratedRegex(@"(?<prefix>[a-z][a-z0-9+.\-]*://[^:/@\s]+:)[^@/\s]+(?=@)", RegexOptions.IgnoreCase)]
    private static partial Regex UrlPassword();

    public static bool IsSecretKey(string key) => SecretKeyName().IsMatch(key);

    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        // Authorization values first: "Authorization: Bearer x" would otherwise lose only the word "Bearer".
        var result = AuthorizationValue().Replace(text, m => m.Groups["scheme"].Value + Mask);
        result = SecretAssignment().Replace(result, m => m.Groups["key"].Value + m.Groups["quote"].Value + Mask);
        return UrlPassword().Replace(result, m => m.Groups["prefix"].Value + Mask);
    }

    /// <summary>Redacts values by key name, and secrets inside any string value.</summary>
    public static Dictionary<string, object?> Redact(IReadOnlyDictionary<string, object?> data)
    {
        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in data)
        {
            copy[key] = IsSecretKey(key) && value is not null ? Mask : value is string text ? Redact(text) : value;
        }

        return copy;
    }
}
