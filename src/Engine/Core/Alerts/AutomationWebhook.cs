using System.Text.Json;
using System.Text.RegularExpressions;

namespace DeploymentRollback.Engine;

/// <summary>An Azure Automation runbook's $WebhookData, unwrapped: the webhook's name, the request body and headers.</summary>
public sealed record WebhookRequest(string? WebhookName, string Body, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// Reads the text forms of $WebhookData. A runbook started by a webhook gets WebhookName, RequestBody (the body as
/// text) and RequestHeader. On Windows PowerShell 5.1 that is an object; a test run from the portal passes it as JSON
/// text; and Microsoft documents that the PowerShell 7 runtime "auto-converts the webhook input parameter to an
/// invalid JSON": a string whose keys and plain values are unquoted, with the body inlined as it was posted, such as
/// {WebhookName:alerts,RequestBody:{"schemaId":"..."},RequestHeader:{Host:x.webhook.azure-automation.net,User-Agent:...}}.
/// </summary>
public static partial class AutomationWebhook
{
    [GeneratedRegex(@"[{,]\s*""?RequestBody""?\s*:\s*")]
    private static partial Regex BodyKey();

    [GeneratedRegex(@"[{,]\s*""?RequestHeader""?\s*:\s*\{")]
    private static partial Regex HeaderKey();

    [GeneratedRegex(@"^\{\s*""?WebhookName""?\s*:\s*""?(?<name>[^,""}]*)")]
    private static partial Regex WebhookName();

    // In the unquoted form a header starts after a comma with its name (an HTTP token) and a colon; a comma followed by
    // a space (Accept: a, b) stays inside the value.
    [GeneratedRegex(@"(?:^|,)(?<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+):")]
    private static partial Regex UnquotedHeader();

    /// <summary>
    /// The request inside a $WebhookData text (proper JSON, or the PowerShell 7 runtime's unquoted form), or false when
    /// the text is not a WebhookData envelope at all (an alert payload itself, for example).
    /// </summary>
    public static bool TryRead(string text, out WebhookRequest request)
    {
        request = null!;
        var trimmed = text.Trim().TrimStart('\uFEFF');
        if (!trimmed.StartsWith('{'))
        {
            return false;
        }

        JsonDocument? document = null;
        try
        {
            document = JsonDocument.Parse(trimmed, new JsonDocumentOptions { MaxDepth = AlertPayload.MaxDepth });
        }
        catch (JsonException)
        {
            // Not JSON: perhaps the unquoted form, which is recognised by its keys below.
        }

        using (document)
        {
            if (document is not null)
            {
                return TryReadJson(document.RootElement, out request);
            }
        }

        var bodyKey = BodyKey().Match(trimmed);
        if (!bodyKey.Success)
        {
            return false;
        }

        var (body, bodyEnd) = InlineBody(trimmed, bodyKey.Index + bodyKey.Length);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var headerKey = HeaderKey().Match(trimmed, bodyEnd);
        if (!headerKey.Success && bodyKey.Index > 0)
        {
            headerKey = HeaderKey().Match(trimmed[..bodyKey.Index]);
        }

        if (headerKey.Success)
        {
            var open = headerKey.Index + headerKey.Length - 1;
            ReadUnquotedHeaders(trimmed[(open + 1)..HeadersEnd(trimmed, open)], headers);
        }

        var name = WebhookName().Match(trimmed) is { Success: true } named ? named.Groups["name"].Value.Trim() : null;
        request = new WebhookRequest(string.IsNullOrEmpty(name) ? null : name, body, headers);
        return true;
    }

    /// <summary>A $WebhookData text that must be an envelope: the request inside, else AlertPayloadInvalid saying what was expected.</summary>
    public static WebhookRequest Read(string text) =>
        TryRead(text, out var request) ? request
            : throw AlertPayload.Invalid("-WebhookData is text without a RequestBody. Pass the runbook's $WebhookData as it came (an object with WebhookName, RequestBody and RequestHeader, or its text), or pass the alert payload itself with -InputObject.");

    private static bool TryReadJson(JsonElement root, out WebhookRequest request)
    {
        request = null!;
        if (AlertPayload.Property(root, "RequestBody") is not { } body)
        {
            return false;
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (AlertPayload.Property(root, "RequestHeader") is { ValueKind: JsonValueKind.Object } header)
        {
            foreach (var property in header.EnumerateObject())
            {
                if (AlertPayload.AsText(property.Value) is { } value)
                {
                    headers[property.Name] = value;
                }
            }
        }

        request = new WebhookRequest(AlertPayload.Text(root, "WebhookName"), AlertPayload.AsText(body) ?? "", headers);
        return true;
    }

    /// <summary>The body as the unquoted form inlines it: a JSON object or array (balanced), a JSON string, or plain text up to the next key.</summary>
    private static (string Body, int End) InlineBody(string text, int start)
    {
        if (start >= text.Length)
        {
            throw Cut();
        }

        switch (text[start])
        {
            case '{' or '[':
                var end = ClosingBrace(text, start) + 1;
                return (text[start..end], end);
            case '"':
                var quoteEnd = StringEnd(text, start);
                try
                {
                    return (JsonSerializer.Deserialize<string>(text.AsSpan(start, quoteEnd - start)) ?? "", quoteEnd);
                }
                catch (JsonException e)
                {
                    throw AlertPayload.Invalid("The RequestBody inside $WebhookData is a quoted text that is not valid JSON text. Pass $WebhookData as the runbook received it.", e);
                }

            default:
                var header = HeaderKey().Match(text, start);
                var plainEnd = header.Success ? header.Index : text.LastIndexOf('}');
                return (text[start..Math.Max(start, plainEnd)].Trim(), Math.Max(start, plainEnd));
        }
    }

    /// <summary>The index of the bracket that closes the one at start, skipping brackets inside JSON strings.</summary>
    private static int ClosingBrace(string text, int start)
    {
        var depth = 0;
        for (var i = start; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '"':
                    i = StringEnd(text, i) - 1;
                    break;
                case '{' or '[':
                    if (++depth > AlertPayload.MaxDepth)
                    {
                        throw AlertPayload.Invalid($"The RequestBody inside $WebhookData is nested deeper than {AlertPayload.MaxDepth} levels. Alert payloads nest far less; pass the body the sender posted.");
                    }

                    break;
                case '}' or ']':
                    if (--depth == 0)
                    {
                        return i;
                    }

                    break;
            }
        }

        throw Cut();
    }

    /// <summary>The index after the quote that closes the JSON string starting at start.</summary>
    private static int StringEnd(string text, int start)
    {
        for (var i = start + 1; i < text.Length; i++)
        {
            if (text[i] == '\\')
            {
                i++;
            }
            else if (text[i] == '"')
            {
                return i + 1;
            }
        }

        throw Cut();
    }

    /// <summary>Where the headers' object closes; a header value with a lone quote still ends at the envelope's last brace but one.</summary>
    private static int HeadersEnd(string text, int open)
    {
        try
        {
            return ClosingBrace(text, open);
        }
        catch (RollbackException)
        {
            var last = text.LastIndexOf('}');
            return Math.Max(open + 1, last > open + 1 && text[last - 1] == '}' ? last - 1 : last);
        }
    }

    private static void ReadUnquotedHeaders(string text, Dictionary<string, string> headers)
    {
        var names = UnquotedHeader().Matches(text);
        for (var i = 0; i < names.Count; i++)
        {
            var valueStart = names[i].Index + names[i].Length;
            var valueEnd = i + 1 < names.Count ? names[i + 1].Index : text.Length;
            headers[names[i].Groups["name"].Value] = text[valueStart..valueEnd].Trim().Trim('"');
        }
    }

    private static RollbackException Cut() => AlertPayload.Invalid(
        "$WebhookData is cut off: its RequestBody does not end (a bracket or quote is never closed). Pass $WebhookData as the runbook received it, whole.");
}
