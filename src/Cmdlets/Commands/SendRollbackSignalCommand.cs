using System.Collections;
using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Emits a signal by hand: a CloudEvents file in signals/, optionally POSTed to a webhook.</summary>
[Cmdlet(VerbsCommunications.Send, "RollbackSignal", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(RollbackSignal))]
public sealed class SendRollbackSignalCommand : RollbackCmdletBase
{
    private const int MaxDataDepth = 32;

    /// <summary>The signal name, such as DEPLOYMENT_FAILED or ROLLBACK_COMPLETE.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(SignalNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The payload, e.g. @{ reason = 'Missing API_KEY'; rolled_back_to = 'v2.3.0' }. Secret-looking keys are redacted.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    public Hashtable Data { get; set; } = new();

    /// <summary>Shorthand for Data.reason.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Reason { get; set; }

    /// <summary>The target the signal is about (its TargetKey, e.g. git:/srv/app), used as the CloudEvent subject; a piped signal's Subject binds to it.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Subject")]
    public string? TargetKey { get; set; }

    /// <summary>Also POST the signal to this URL as a structured CloudEvent.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    /// <summary>Also tell people: Teams or Slack webhooks, any JSON webhook, or smtp:// (with ?to=).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? NotifyUri { get; set; }

    protected override void ProcessRecord()
    {
        UseNotifyTargets(NotifyUri);
        Dictionary<string, object?> data;
        try
        {
            SignalStore.ValidateName(Name);
            SignalStore.ValidateSubject(TargetKey);
            data = ToSignalData(Data, 0);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            return;
        }

        if (Reason is not null)
        {
            data["reason"] = Reason;
        }

        if (!ShouldProcess(TargetKey ?? "signals", $"Emit signal {Name}{(WebhookUri is null ? "" : " and POST it to " + UrlCredentials.DescribeHost(WebhookUri))}"))
        {
            return;
        }

        WriteObject(RunEngine(async context =>
        {
            var signal = await new SignalStore(context.State).EmitAsync(Name, data, TargetKey, WebhookUri, context.Observer, context.Cancellation, webhookFailureIsError: true).ConfigureAwait(false);
            await Notifier.NotifyAsync(signal.Name, TargetKey ?? "signals", signal.Data, null, context).ConfigureAwait(false);
            return signal;
        }));
    }

    /// <summary>Hashtables, custom objects and lists become nested JSON objects and arrays; other values their text.</summary>
    private static Dictionary<string, object?> ToSignalData(IDictionary table, int depth) => (Dictionary<string, object?>)PlainData.From(table, MaxDataDepth, () =>
        new RollbackException(ErrorIds.SignalDataInvalid, RollbackErrorKind.InvalidArgument,
            $"-Data is nested deeper than {MaxDataDepth} levels (does a value contain itself?). Pass plain values, lists and hashtables."), depth)!;
}
