using System.Collections;
using System.Management.Automation;
using System.Security;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Serves an HTTP endpoint for alerts (Alertmanager, Grafana, Azure Monitor, CloudEvents): records them as signals and
/// rolls the configured target or plan back once per firing alert group.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "RollbackSignalListener", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ListenerReport), typeof(RollbackResult))]
public sealed class StartRollbackSignalListenerCommand : AutomaticCmdletBase
{
    /// <summary>Where to listen, e.g. http://127.0.0.1:9099/alerts/ (ending with a slash).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string[] Prefix { get; set; } = Array.Empty<string>();

    /// <summary>Requests must carry 'Authorization: Bearer &lt;token&gt;'.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? BearerToken { get; set; }

    /// <summary>Requests must carry an HMAC-SHA256 signature of the body made with this secret.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? HmacSecret { get; set; }

    /// <summary>The header with the signature; X-Hub-Signature-256 (sha256=&lt;hex&gt;) or X-Signature when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SignatureHeader { get; set; }

    /// <summary>Larger bodies are refused with 413.</summary>
    [Parameter]
    [ValidateRange(1024, 8388608)]
    public int MaxBodyBytes { get; set; } = 1048576;

    /// <summary>Every alert is about this target (a target key such as plan:checkout).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TargetKey { get; set; }

    /// <summary>Label selectors to target keys, e.g. @{ 'service=checkout' = 'plan:checkout' }.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? Map { get; set; }

    /// <summary>Record every alert as this signal instead of the one the alert implies.</summary>
    [Parameter]
    [ValidateSet("DEPLOYMENT_FAILED", "HEALTH_CHECK_FAILED", IgnoreCase = false)]
    public string? SignalName { get; set; }

    /// <summary>Without -Strategy or -Plan the listener only records alerts as signals.</summary>
    protected override bool NamesTarget(DeploymentTarget? piped) => Strategy is not null || Binding.AnyGiven;

    protected override void ProcessRecord()
    {
        var (action, _) = BuildAutomatic();
        var report = RunUntilStopped((context, stop) =>
        {
            var automatic = action(context);
            var selectors = PlainData.Pairs(Map);
            var options = new ListenerOptions
            {
                Prefixes = Prefix,
                BearerToken = BearerToken is null ? null : new System.Net.NetworkCredential("", BearerToken).Password,
                HmacSecret = HmacSecret is null ? null : System.Text.Encoding.UTF8.GetBytes(new System.Net.NetworkCredential("", HmacSecret).Password),
                SignatureHeader = SignatureHeader,
                MaxBodyBytes = MaxBodyBytes,
                // With no mapping given, every alert is about the configured target.
                Map = new AlertTargetMap(TargetKey ?? (selectors is null ? automatic?.TargetKey : null), selectors),
                SignalName = SignalName,
                Cooldown = TimeSpan.FromSeconds(CooldownSec),
                Duration = Duration,
                DryRun = DryRun || IsWhatIf,
            };
            return new SignalListener(options, automatic, context, WriteObjectFromEngine).RunAsync(stop);
        });
        WriteObject(report);
    }
}
