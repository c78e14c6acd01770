using System.Collections;
using System.Management.Automation;
using System.Security;
using System.Text;
using System.Text.Json;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Turns an inbound alert (Azure Monitor, Alertmanager, Grafana, CloudEvents; a runbook's $WebhookData) into signals
/// about targets, ready to pipe to Send-RollbackSignal. Writes nothing itself.
/// </summary>
[Cmdlet(VerbsData.ConvertFrom, "RollbackAlert", DefaultParameterSetName = InputObjectSet)]
[OutputType(typeof(RollbackSignal))]
public sealed class ConvertFromRollbackAlertCommand : PSCmdlet
{
    private const string InputObjectSet = "InputObject";
    private const string WebhookDataSet = "WebhookData";
    private const int MaxObjectDepth = 64;

    /// <summary>The payload: JSON text (also the lines of a file, piped), or an object that has a RequestBody, or an already converted payload.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    [AllowEmptyString]
    [AllowNull]
    public object? InputObject { get; set; }

    /// <summary>An Azure Automation runbook's $WebhookData: the object, its JSON text, or the PowerShell 7 runtime's unquoted text.</summary>
    [Parameter(Mandatory = true, ParameterSetName = WebhookDataSet)]
    public object WebhookData { get; set; } = "";

    /// <summary>The request's headers (a binary CloudEvent's ce-* headers, Content-Type, a signature).</summary>
    [Parameter(ParameterSetName = InputObjectSet)]
    [ValidateNotNull]
    public Hashtable? Header { get; set; }

    /// <summary>The target of every alert that -Map does not pick.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Selectors (label=value[,label=value]) and the target each picks.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? Map { get; set; }

    /// <summary>The signal name for every alert, instead of the one each alert asks for.</summary>
    [Parameter]
    [ArgumentCompleter(typeof(SignalNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string? SignalName { get; set; }

    /// <summary>Refuse payloads that are not signed with this secret (HMAC-SHA256 in X-Hub-Signature-256 or X-Signature).</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? SigningSecret { get; set; }

    // Engine types are kept as object: a field of an engine type would load the engine while PowerShell scans this assembly.
    private object? targetMap;
    private byte[]? secret;
    private string defaultStateDirectory = "";
    private readonly List<string> pipedText = new();

    protected override void BeginProcessing()
    {
        try
        {
            if (SignalName is not null)
            {
                SignalStore.ValidateName(SignalName);
            }

            targetMap = new AlertTargetMap(TargetKey, PlainData.Pairs(Map));
            defaultStateDirectory = StateRoot.ResolveDirectory(null);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(RollbackCmdletBase.ToErrorRecord(e));
        }

        if (SigningSecret is not null)
        {
            secret = Encoding.UTF8.GetBytes(new System.Net.NetworkCredential("", SigningSecret).Password);
        }
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == WebhookDataSet)
        {
            ConvertPayload(() => FromWebhookData(WebhookData));
            return;
        }

        var value = InputObject is PSObject wrapped ? wrapped.BaseObject : InputObject;
        var items = value is IEnumerable list and not string and not IDictionary ? list.Cast<object?>() : new[] { InputObject };
        foreach (var item in items)
        {
            switch (item is PSObject p ? p.BaseObject : item)
            {
                case null:
                    pipedText.Add("");
                    break;
                case string text:
                    // Lines of a file arrive one by one: they are read together at the end.
                    pipedText.Add(text);
                    break;
                default:
                    ConvertPayload(() => HasProperty(item!, "RequestBody") ? FromWebhookData(item!) : (ToJson(item!), ToHeaders(Header)));
                    break;
            }
        }
    }

    protected override void EndProcessing()
    {
        if (pipedText.Count == 0)
        {
            return;
        }

        // Several texts that are each a whole payload are several payloads; otherwise they are the lines of one.
        var separate = pipedText.Count > 1 && IsWhole(pipedText[0]);
        foreach (var text in separate ? pipedText : new List<string> { string.Join('\n', pipedText) })
        {
            ConvertPayload(() => FromText(text, ToHeaders(Header)));
        }
    }

    /// <summary>Reads one payload and writes a signal for each of its alerts; a payload or alert that fails is an error of its own.</summary>
    private void ConvertPayload(Func<(string Body, Dictionary<string, string> Headers)> read)
    {
        IReadOnlyList<InboundAlert> alerts;
        try
        {
            var (body, headers) = read();
            if (secret is not null)
            {
                AlertAuthentication.DemandSignature(Encoding.UTF8.GetBytes(body), headers, secret);
            }

            alerts = AlertPayload.Parse(body, headers);
        }
        catch (RollbackException e)
        {
            WriteError(RollbackCmdletBase.ToErrorRecord(e));
            return;
        }

        if (alerts.Count == 0)
        {
            WriteVerbose("The payload holds no alerts; nothing to convert.");
        }

        var map = (AlertTargetMap)targetMap!;
        foreach (var alert in alerts)
        {
            try
            {
                var target = map.Resolve(alert) ?? throw map.NotMapped(alert);
                WriteVerbose($"{SecretRedactor.Redact(alert.Reason)} -> {target}{(alert.Act ? "" : " (recorded, not acted on)")}");
                WriteObject(AlertSignals.ToSignal(alert, target, SignalName, defaultStateDirectory));
            }
            catch (RollbackException e)
            {
                WriteError(RollbackCmdletBase.ToErrorRecord(e));
            }
        }
    }

    private static (string Body, Dictionary<string, string> Headers) FromText(string text, Dictionary<string, string> headers)
    {
        if (!AutomationWebhook.TryRead(text, out var request))
        {
            return (text, headers);
        }

        return (request.Body, Merge(request.Headers, headers));
    }

    /// <summary>$WebhookData as an object (WebhookName, RequestBody, RequestHeader), or its text in either form.</summary>
    private (string Body, Dictionary<string, string> Headers) FromWebhookData(object data)
    {
        var value = data is PSObject wrapped ? wrapped.BaseObject : data;
        if (value is string text)
        {
            // A payload pasted as WebhookData (a test run from the portal) is read as the payload.
            return FromText(text, ToHeaders(Header));
        }

        var body = Member(data, "RequestBody") switch
        {
            null => throw new RollbackException(ErrorIds.AlertPayloadInvalid, RollbackErrorKind.InvalidArgument,
                "-WebhookData has no RequestBody. Pass the runbook's $WebhookData as it came (an object with WebhookName, RequestBody and RequestHeader, or its text)."),
            string requestBody => requestBody,
            var other => ToJson(other),
        };
        return (body, Merge(ToHeaders(Member(data, "RequestHeader")), ToHeaders(Header)));
    }

    private static Dictionary<string, string> ToHeaders(object? value)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        switch (value is PSObject wrapped ? wrapped.BaseObject : value)
        {
            case IDictionary table:
                foreach (DictionaryEntry entry in table)
                {
                    headers[entry.Key.ToString() ?? ""] = Plain(entry.Value)?.ToString() ?? "";
                }

                break;
            case PSCustomObject when value is PSObject custom:
                foreach (var property in custom.Properties)
                {
                    headers[property.Name] = Plain(property.Value)?.ToString() ?? "";
                }

                break;
        }

        return headers;
    }

    private static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> first, Dictionary<string, string> second)
    {
        var merged = new Dictionary<string, string>(first, StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in second)
        {
            merged[name] = value;
        }

        return merged;
    }

    private static bool HasProperty(object value, string name) => Member(value, name) is not null;

    private static object? Member(object value, string name)
    {
        var unwrapped = value is PSObject wrapped ? wrapped.BaseObject : value;
        if (unwrapped is IDictionary table)
        {
            return table.Keys.Cast<object>().FirstOrDefault(k => string.Equals(k.ToString(), name, StringComparison.OrdinalIgnoreCase)) is { } key ? Plain(table[key]) : null;
        }

        return Plain(PSObject.AsPSObject(value).Properties[name]?.Value);
    }

    private static object? Plain(object? value) => value is PSObject wrapped && wrapped.BaseObject is not PSCustomObject ? wrapped.BaseObject : value;

    /// <summary>An object already converted from JSON (ConvertFrom-Json, a hashtable) as JSON text again.</summary>
    private static string ToJson(object value) => JsonSerializer.Serialize(PlainData.From(value, MaxObjectDepth, () =>
        new RollbackException(ErrorIds.AlertPayloadInvalid, RollbackErrorKind.InvalidArgument,
            $"The payload object is nested deeper than {MaxObjectDepth} levels (does a value contain itself?). Pass the payload's JSON text instead.")));

    private static bool IsWhole(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = AlertPayload.MaxDepth });
            return true;
        }
        catch (JsonException)
        {
            return AutomationWebhook.TryRead(text, out _);
        }
        catch (RollbackException)
        {
            return true;
        }
    }
}
