using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Reads the signals in the state directory, oldest first.</summary>
[Cmdlet(VerbsCommon.Get, "RollbackSignal")]
[OutputType(typeof(RollbackSignal))]
public sealed class GetRollbackSignalCommand : RollbackCmdletBase
{
    [Parameter(Position = 0)]
    [ArgumentCompleter(typeof(SignalNameCompleter))]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Only signals about this target (the CloudEvent subject).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    [Parameter]
    public DateTimeOffset? Since { get; set; }

    /// <summary>Only the newest N signals.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Last { get; set; }

    protected override void ProcessRecord()
    {
        var signals = RunEngine(context => Task.FromResult(new SignalStore(context.State).Read(Name, TargetKey, Since, context.Observer)));
        WriteObject(Last is { } last ? signals.Skip(Math.Max(0, signals.Count - last)) : signals, enumerateCollection: true);
    }
}
