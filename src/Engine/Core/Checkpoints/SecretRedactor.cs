using System.Text;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>
/// Removes secrets before anything is written to a checkpoint, signal, report or log. Free text is scanned once, left to
/// right (every pattern is anchored so that no position is scanned twice: a 40 KB token-like line takes milliseconds);
/// documents are redacted by key path (<see cref="DocumentSecrets"/>).
/// </summary>
public static partial class SecretRedactor
{
    public const string Mask = "***REDACTED***";

    // Name parts that make a key secret on their own, and pairs of adjacent parts that do (api_key, tls_private_key).
    private static readonly HashSet<string> SecretParts = new(StringComparer.OrdinalIgnoreCase)
    {
        "password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "token", "tokens", "credential", "credentials",
        "authorization", "apikey", "sig", "signature", "cookie", "privatekey", "connectionstring", "connectionstrings", "sas",
    };

    private static readonly HashSet<string> SecretPairs = new(StringComparer.OrdinalIgnoreCase)
    {
        "api key", "private key", "signing key", "secret key", "access key", "encryption key", "master key", "account key",
        "shared key", "auth key", "client key", "connection string", "connection strings", "storage key", "session key",
    };

    private static readonly string[] AuthorizationSchemes = { "Bearer", "Basic", "token", "Token", "Digest", "SharedKey", "SSWS", "Negotiate", "NTLM", "AWS4-HMAC-SHA256" };

    // A key and its separator. The look-behind makes a match start only at the beginning of a name, so a long run of
    // name characters is scanned once, not once per position.
    [GeneratedRegex(@"(?<![A-Za-z0-9_.\-])(?<quote>[""']?)(?<key>(?>[A-Za-z0-9_.\-]+))\k<quote>[ \t]*(?<sep>[:=])")]
    private static partial Regex KeyAndSeparator();

    // scheme://user:password@ or scheme://token@ (a token alone as user name is a secret too).
    [GeneratedRegex(@"(?<![A-Za-z0-9+.\-])(?<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,30}://)(?<userinfo>(?>[^/?#@\s""'<>]+))@")]
    private static partial Regex UrlUserInfo();

    [GeneratedRegex(@"(?<![A-Za-z0-9])(?<scheme>Bearer|Basic)[ \t]+(?>[A-Za-z0-9\-._~+/]{8,})=*", RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationValue();

    // An option named like a secret whose value is the next argument: --db-password hunter2 on a command line,
    // "--db-password","hunter2" in a JSON list (a pod's args), also as JSON inside a JSON string (\u0022 or \" for the
    // quotes, as in kubectl's last-applied-configuration annotation).
    [GeneratedRegex(@"(?<!(?<!\\u002)[A-Za-z0-9_\-])(?<flag>--[A-Za-z][A-Za-z0-9_.\-]*)(?<gap>(?:""|\\u0022|\\"")[ \t]*,[ \t]*(?:""|\\u0022|\\"")|[ \t]+)(?<value>(?>[^\s""'\\,;\]\)}]+))")]
    private static partial Regex OptionAndNextValue();

    /// <summary>Whether a command-line argument is an option named like a secret that takes its value from the next argument (--db-password).</summary>
    public static bool IsSecretOption(string argument) =>
        argument.StartsWith('-') && !argument.Contains('=') && argument.TrimStart('-') is { Length: > 0 } name && IsSecretKey(name)
        && SplitName(name)[^1] is not ("file" or "path" or "dir" or "env" or "name" or "length");

    // PEM private keys, also when the END line is missing.
    [GeneratedRegex(@"-----BEGIN (?<kind>[A-Z0-9 ]{0,40})PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|\z)")]
    private static partial Regex PemPrivateKey();

    /// <summary>Whether a key's name marks its value as a secret (password, db_pass, tls_private_key, ConnectionStrings__App, sig).</summary>
    public static bool IsSecretKey(string key)
    {
        var parts = SplitName(key);
        for (var i = 0; i < parts.Count; i++)
        {
            if (SecretParts.Contains(parts[i]) || (i > 0 && SecretPairs.Contains(parts[i - 1] + " " + parts[i])))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether a value is a secret by its form, whatever its key: a PEM private key.</summary>
    public static bool LooksLikeSecretValue(string value) => value.Contains("PRIVATE KEY-----", StringComparison.Ordinal);

    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        var result = PemPrivateKey().Replace(text, m => $"-----BEGIN {m.Groups["kind"].Value}PRIVATE KEY-----{Mask}");
        result = RedactAssignments(result);
        result = UrlUserInfo().Replace(result, m => m.Groups["scheme"].Value + Mask + "@");
        result = OptionAndNextValue().Replace(result, m => IsSecretOption(m.Groups["flag"].Value) && !m.Groups["value"].Value.StartsWith('-') && m.Groups["value"].Value != Mask
            ? m.Groups["flag"].Value + m.Groups["gap"].Value + Mask
            : m.Value);
        return AuthorizationValue().Replace(result, m => m.Groups["scheme"].Value + " " + Mask);
    }

    /// <summary>key: value, key=value, "key": "value", key: | (a YAML block), each with a key named like a secret.</summary>
    private static string RedactAssignments(string text)
    {
        var output = new StringBuilder(text.Length);
        var position = 0;
        var match = KeyAndSeparator().Match(text, 0);
        while (match.Success)
        {
            if (!IsSecretKey(match.Groups["key"].Value))
            {
                match = match.NextMatch();
                continue;
            }

            var valueStart = SkipBlanks(text, match.Index + match.Length);
            var (start, end) = ValueSpan(text, match, valueStart);
            if (end > start && string.CompareOrdinal(text, start, Mask, 0, Mask.Length) != 0)
            {
                output.Append(text, position, start - position).Append(Mask);
                position = end;
            }

            match = KeyAndSeparator().Match(text, Math.Max(end, match.Index + match.Length));
        }

        return position == 0 ? text : output.Append(text, position, text.Length - position).ToString();
    }

    /// <summary>Where the value after a secret key starts and ends (the part to mask).</summary>
    private static (int Start, int End) ValueSpan(string text, Match match, int start)
    {
        if (start >= text.Length)
        {
            return (start, start);
        }

        var lineEnd = text.IndexOfAny(new[] { '\r', '\n' }, start) is var e and >= 0 ? e : text.Length;
        var key = match.Groups["key"].Value;
        if (key.Equals("authorization", StringComparison.OrdinalIgnoreCase) || key.EndsWith("-authorization", StringComparison.OrdinalIgnoreCase))
        {
            // Keep the scheme (Bearer, token): it tells a reader which kind of credential was sent.
            foreach (var scheme in AuthorizationSchemes)
            {
                if (string.CompareOrdinal(text, start, scheme + " ", 0, scheme.Length + 1) == 0)
                {
                    start = SkipBlanks(text, start + scheme.Length);
                    break;
                }
            }

            return (start, TrimEnd(text, start, lineEnd));
        }

        switch (text[start])
        {
            case '"':
                return (start, ClosingQuote(text, start, '"'));
            case '\'':
                return (start, ClosingQuote(text, start, '\''));
            case '|' or '>' when match.Groups["sep"].Value == ":" && text.AsSpan(start + 1, lineEnd - start - 1).Trim().ToString().All(c => c is '-' or '+' || char.IsAsciiDigit(c)):
                return (start, BlockEnd(text, match.Index, lineEnd));
        }

        if (match.Groups["sep"].Value == ":" || StartsLine(text, match.Index))
        {
            // YAML, headers, .env and INI lines: the value runs to the end of its line.
            return (start, TrimEnd(text, start, lineEnd));
        }

        // Inside a connection string, a query or a command line: up to the next separator.
        var stop = text.IndexOfAny(new[] { ' ', '\t', '\r', '\n', ';', '&', ',', '"', '\'', ')', ']', '}', '<' }, start);
        return (start, stop < 0 ? text.Length : stop);
    }

    private static int ClosingQuote(string text, int open, char quote)
    {
        for (var i = open + 1; i < text.Length; i++)
        {
            if (quote == '"' && text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == quote)
            {
                if (quote == '\'' && i + 1 < text.Length && text[i + 1] == '\'')
                {
                    i++;
                    continue;
                }

                return i + 1;
            }
        }

        return text.Length;
    }

    /// <summary>The end of a YAML block scalar: the last line indented deeper than its key's line.</summary>
    private static int BlockEnd(string text, int keyIndex, int lineEnd)
    {
        var lineStart = text.LastIndexOf('\n', Math.Max(0, keyIndex - 1)) + 1;
        var keyIndent = 0;
        while (lineStart + keyIndent < text.Length && text[lineStart + keyIndent] is ' ' or '-')
        {
            keyIndent++;
        }

        var end = lineEnd;
        var next = lineEnd;
        while (next < text.Length)
        {
            var start = text[next] == '\r' ? next + 1 : next;
            start = start < text.Length && text[start] == '\n' ? start + 1 : start;
            var stop = text.IndexOf('\n', start) is var n and >= 0 ? n : text.Length;
            var line = text.AsSpan(start, stop - start).TrimEnd('\r');
            var indent = line.Length - line.TrimStart(' ').Length;
            if (line.Trim().Length > 0 && indent <= keyIndent)
            {
                break;
            }

            if (line.Trim().Length > 0)
            {
                end = start + line.Length;
            }

            next = stop;
        }

        return end;
    }

    private static bool StartsLine(string text, int index)
    {
        var i = index - 1;
        while (i >= 0 && text[i] is ' ' or '\t')
        {
            i--;
        }

        if (i >= 5 && text.AsSpan(i - 5, 6).SequenceEqual("export"))
        {
            i -= 6;
            while (i >= 0 && text[i] is ' ' or '\t')
            {
                i--;
            }
        }

        return i < 0 || text[i] == '\n';
    }

    private static int SkipBlanks(string text, int index)
    {
        while (index < text.Length && text[index] is ' ' or '\t')
        {
            index++;
        }

        return index;
    }

    private static int TrimEnd(string text, int start, int end)
    {
        while (end > start && char.IsWhiteSpace(text[end - 1]))
        {
            end--;
        }

        return end;
    }

    /// <summary>A key's name in parts: db_pass -> db, pass; tlsPrivateKey -> tls, private, key; ConnectionStrings__App -> connection, strings, app.</summary>
    private static List<string> SplitName(string key)
    {
        var parts = new List<string>();
        var current = new StringBuilder();
        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (!char.IsLetterOrDigit(c))
            {
                Flush();
                continue;
            }

            if (char.IsUpper(c) && current.Length > 0 && (char.IsLower(key[i - 1]) || (i + 1 < key.Length && char.IsLower(key[i + 1]) && char.IsUpper(key[i - 1]))))
            {
                Flush();
            }

            current.Append(c);
        }

        Flush();
        return parts;

        void Flush()
        {
            if (current.Length > 0)
            {
                parts.Add(current.ToString().ToLowerInvariant());
                current.Clear();
            }
        }
    }
}
