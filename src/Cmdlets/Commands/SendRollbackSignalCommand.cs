using System.Collections;
using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Emits a signal by hand: a CloudEvents file in signals/, optionally POSTed to a webhook.</summary>
[Cmdlet(VerbsCommunications.Send, "RollbackSignal", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(RollbackSignal))]
public sealed class SendRollbackSignalCommand : RollbackCmdletBase
{
    /// <summary>The signal name, such as DEPLOYMENT_FAILED or ROLLBACK_COMPLETE.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(SignalNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The payload, e.g. @{ reason = 'Missing API_KEY'; rolled_back_to = 'v2.3.0' }. Secret-looking keys are redacted.</summary>
    [Parameter(Position = 1)]
    public Hashtable Data { get; set; } = new();

    /// <summary>Shorthand for Data.reason.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Reason { get; set; }

    /// <summary>The target the signal is about (its TargetKey, e.g. git:/srv/app), used as the CloudEvent subject.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Also POST the signal to this URL as a structured CloudEvent.</summary>
    [Parameter]
    [ValidateNotNull]
    public Uri? WebhookUri { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            SignalStore.ValidateName(Name);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }

        var data = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Data)
        {
            var value = entry.Value is PSObject wrapped ? wrapped.BaseObject : entry.Value;
            data[entry.Key.ToString()!] = value is string or bool or int or long or double or decimal or null ? value : value.ToString();
        }

        if (Reason is not null)
        {
            data["reason"] = Reason;
        }

        if (!ShouldProcess(TargetKey ?? "signals", $"Emit signal {Name}{(WebhookUri is null ? "" : " and POST it to " + WebhookUri.GetLeftPart(UriPartial.Path))}"))
        {
            return;
        }

        WriteObject(RunEngine(context => new SignalStore(context.State).EmitAsync(Name, data, TargetKey, WebhookUri, context.Observer, context.Cancellation, webhookFailureIsError: true)));
    }
}
