using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.InteropServices;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// What every cmdlet shares: cancellation from Ctrl+C, engine work run off the pipeline thread while
/// progress, messages, ShouldProcess and script blocks are marshalled back to it, and error mapping.
/// </summary>
public abstract class RollbackCmdletBase : PSCmdlet, IDisposable
{
    private CancellationTokenSource? cancellation;
    private BlockingCollection<Action>? pipelineQueue;

    /// <summary>The state root: journal, checkpoints, signals, reports.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? StateDirectory { get; set; }

    /// <summary>
    /// A shared state store: a postgresql:// address or Npgsql connection string, or a blob container URL or Azure
    /// Storage connection string. Without it, $env:DEPLOYMENT_ROLLBACK_STATE, else the local state folder.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? StateStore { get; set; }

    /// <summary>The shared store's user and password (PostgreSQL), or account name and key (Azure Storage).</summary>
    [Parameter]
    [Credential]
    public PSCredential? StateStoreCredential { get; set; }

    protected CancellationToken Cancellation => cancellation!.Token;

    // The states this command opened, by folder and store: piped records that name the same one share it (and its
    // connections), and all are closed when the command ends.
    private readonly Dictionary<string, StateRoot> openedStates = new(StringComparer.Ordinal);

    protected override void BeginProcessing()
    {
        cancellation = new CancellationTokenSource();
    }

    protected override void EndProcessing()
    {
        cancellation?.Dispose();
        cancellation = null;
    }

    /// <summary>PowerShell disposes the cmdlet when its pipeline ends, also after a terminating error: the -WhatIf stand-in goes then.</summary>
    public void Dispose()
    {
        foreach (var opened in openedStates.Values)
        {
            opened.Dispose();
        }

        openedStates.Clear();
        RemoveWhatIfState();
        GC.SuppressFinalize(this);
    }

    protected override void StopProcessing()
    {
        cancellation?.Cancel();
    }

    private void RemoveWhatIfState()
    {
        if (whatIfState is not null && Directory.Exists(whatIfState))
        {
            // The journal opens no pooled connections, so nothing holds the folder; if the OS still does, a leftover temp folder is harmless.
            try
            {
                Directory.Delete(whatIfState, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        whatIfState = null;
    }

    protected StateRoot OpenState()
    {
        var requested = StateDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(StateDirectory);
        var real = StateRoot.ResolveDirectory(requested);
        var shared = StateStoreAddress.Resolve(StateStore, StateStoreCredential?.GetNetworkCredential());
        var standIn = IsWhatIf && !Directory.Exists(real);
        var key = $"{real}\n{shared?.Location}\n{standIn}";
        if (openedStates.TryGetValue(key, out var opened))
        {
            return opened;
        }

        StateRoot state;
        if (standIn)
        {
            // -WhatIf changes nothing, not even by creating the state folder: it reads an empty one made for the occasion.
            // One stand-in serves every piped record of this command.
            whatIfState ??= Path.Combine(Path.GetTempPath(), "deployment-rollback-whatif-" + Guid.NewGuid().ToString("N")[..12]);
            state = StateRoot.OpenStandIn(whatIfState, real, shared);
        }
        else
        {
            state = StateRoot.Open(requested, shared);
        }

        openedStates[key] = state;
        return state;
    }

    private string? whatIfState;

    // Set by the cmdlets that tell people (-NotifyUri, else DEPLOYMENT_ROLLBACK_NOTIFY), before the engine runs.
    private IReadOnlyList<NotifyTarget> notifyTargets = Array.Empty<NotifyTarget>();

    /// <summary>-NotifyUri, else the addresses of DEPLOYMENT_ROLLBACK_NOTIFY; a bad one ends the command before anything runs.</summary>
    protected void UseNotifyTargets(string[]? given)
    {
        try
        {
            notifyTargets = NotifyTarget.Resolve(given);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }
    }

    protected bool IsWhatIf =>
        MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value) ? value is SwitchParameter { IsPresent: true } || value is true
        : SessionState.PSVariable.GetValue("WhatIfPreference") is { } preference && LanguagePrimitives.IsTrue(preference);

    /// <summary>A plan file or hashtable read and checked; an invalid one ends the command, listing every problem, before anything runs.</summary>
    protected ServicePlan ReadPlan(object plan, System.Collections.IDictionary? componentParameters)
    {
        var (read, validation) = ReadPlanUnchecked(plan, componentParameters);
        if (read is null)
        {
            ThrowTerminatingError(ToErrorRecord(PlanReader.Invalid(validation)));
        }

        return read!;
    }

    protected (ServicePlan? Plan, PlanValidation Validation) ReadPlanUnchecked(object plan, System.Collections.IDictionary? componentParameters) =>
        new PlanReader(GetUnresolvedProviderPathFromPSPath, (value, what) => ToScriptAction(value, what)).Read(plan, componentParameters);

    protected string? ResolvePath(string? path) => path is null ? null : GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>The given path, else PowerShell's current folder (which is not the process's working directory).</summary>
    protected string ResolvePathOrCurrent(string? path) => path switch
    {
        null => SessionState.Path.CurrentFileSystemLocation.ProviderPath,
        // A flag service's address (a piped flag target's location) is not a file-system path.
        _ when Uri.TryCreate(path, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" => path,
        _ => GetUnresolvedProviderPathFromPSPath(path),
    };

    /// <summary>Runs engine work on a worker thread and services its requests on the pipeline thread until it ends.</summary>
    protected T RunEngine<T>(Func<EngineContext, Task<T>> work, StateRoot? state = null)
    {
        try
        {
            state ??= OpenState();
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }

        var queue = new BlockingCollection<Action>();
        pipelineQueue = queue;
        var observer = new PipelineObserver(this, queue);
        var context = new EngineContext(state!, observer.ToEngineObserver(), Cancellation) { Notify = notifyTargets };
        var task = Task.Run(() => work(context));
        task.ContinueWith(_ => queue.CompleteAdding(), TaskScheduler.Default);
        var stopping = false;
        foreach (var action in queue.GetConsumingEnumerable())
        {
            try
            {
                action();
            }
            catch (PipelineStoppedException)
            {
                // Ctrl+C: writes now fail, but the engine is still recording the attempt and undoing its steps.
                // Leaving now would end the command before the journal says what happened, so drain until it ends.
                stopping = true;
            }
        }

        pipelineQueue = null;
        if (stopping)
        {
            throw new PipelineStoppedException();
        }

        observer.CloseProgress();
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (Cancellation.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;
        }
    }

    /// <summary>A service manager's stop (systemd sends SIGTERM) ends the watch after the current round, as Ctrl+C does.</summary>
    protected static IDisposable? OnSigterm(CancellationTokenSource stop)
    {
        try
        {
            return PosixSignalRegistration.Create(PosixSignal.SIGTERM, signal =>
            {
                signal.Cancel = true;
                stop.Cancel();
            });
        }
        catch (PlatformNotSupportedException)
        {
            return null;
        }
    }

    /// <summary>Writes an object to the pipeline from engine code while RunEngine runs (e.g. each rollback of a long watch as it ends).</summary>
    protected void WriteObjectFromEngine(object value) => pipelineQueue?.Add(() => WriteObject(value));

    /// <summary>Runs a script block on the pipeline thread (where PowerShell requires it), from engine code on a worker thread.</summary>
    protected ScriptAction ToScriptAction(object value, string what, IReadOnlyList<string>? arguments = null)
    {
        value = value is PSObject wrapped ? wrapped.BaseObject : value;
        if (value is ScriptBlock block)
        {
            return new ScriptAction($"{{ {Abbreviate(block.ToString())} }}", _ => OnPipelineThread(() => InvokeScript(block)));
        }

        if (value is string path && path.Length > 0)
        {
            var full = GetUnresolvedProviderPathFromPSPath(path);
            if (full.EndsWith(".ps1", StringComparison.OrdinalIgnoreCase))
            {
                if (!File.Exists(full))
                {
                    throw new RollbackException(ErrorIds.SmokeTestNotFound, RollbackErrorKind.ObjectNotFound,
                        $"The script '{full}' does not exist. Give the path of a script or executable, or a script block.");
                }

                // A .ps1 runs in this session (it may use the caller's modules); its 'exit N' sets $LASTEXITCODE, which InvokeScript checks.
                var script = ScriptBlock.Create("param($path, [string[]] $rest) & $path @rest");
                var rest = (arguments ?? Array.Empty<string>()).ToArray();
                return new ScriptAction(Path.GetFileName(full), _ => OnPipelineThread(() => InvokeScript(script, full, rest)));
            }

            return ScriptAction.FromFile(full, arguments, workingDirectory: SessionState.Path.CurrentFileSystemLocation.ProviderPath);
        }

        throw new RollbackException(ErrorIds.SmokeTestNotFound, RollbackErrorKind.InvalidArgument,
            $"The {what} must be a script block or the path of a script or executable, not '{value}'.");
    }

    /// <summary>
    /// Enum parameters are declared as strings with ValidateSet: an engine enum as a field type would make
    /// PowerShell load the engine while it scans this assembly, before the module's load context exists.
    /// </summary>
    protected static TEnum? ParseEnum<TEnum>(string? value)
        where TEnum : struct, Enum => value is null ? null : Enum.Parse<TEnum>(value, ignoreCase: true);

    internal static ErrorRecord ToErrorRecord(RollbackException e) => new(e, e.ErrorId, e.Kind switch
    {
        RollbackErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        RollbackErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        RollbackErrorKind.ResourceBusy => ErrorCategory.ResourceBusy,
        RollbackErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        RollbackErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        RollbackErrorKind.NotImplemented => ErrorCategory.NotImplemented,
        RollbackErrorKind.WriteError => ErrorCategory.WriteError,
        _ => ErrorCategory.InvalidOperation,
    }, e.TargetName);

    private Task<ScriptOutcome> OnPipelineThread(Func<ScriptOutcome> action)
    {
        var completion = new TaskCompletionSource<ScriptOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        var queue = pipelineQueue ?? throw new InvalidOperationException("Script blocks can only run while the engine is running.");
        queue.Add(() =>
        {
            try
            {
                completion.SetResult(action());
            }
            catch (PipelineStoppedException)
            {
                // Ctrl+C while a script block ran: the engine sees a cancellation and records the attempt as cancelled.
                completion.SetCanceled();
            }
            catch (Exception e)
            {
                completion.SetException(e);
            }
        });
        return completion.Task;
    }

    /// <summary>
    /// A script block passes unless it throws, returns $false, or leaves $LASTEXITCODE non-zero (a native command such as
    /// systemctl failed, or a script ran 'exit N'); its output and that exit code are kept.
    /// </summary>
    private ScriptOutcome InvokeScript(ScriptBlock block, params object[] arguments)
    {
        SessionState.PSVariable.Set(LastExitCodeVariable, 0);
        try
        {
            var output = block.Invoke(arguments);
            var text = string.Join(Environment.NewLine, output.Select(o => o?.ToString()));
            var last = output.Count > 0 ? output[^1]?.BaseObject : null;
            var exitCode = FailedExitCode();
            return new ScriptOutcome(last is not false && exitCode is null, text, exitCode);
        }
        catch (RuntimeException e) when (e is not PipelineStoppedException)
        {
            return new ScriptOutcome(false, e.Message, FailedExitCode());
        }
    }

    private const string LastExitCodeVariable = "global:LASTEXITCODE";

    /// <summary>$LASTEXITCODE when non-zero; null when the block ran no failing native command (its verdict is then its own).</summary>
    private int? FailedExitCode() =>
        LanguagePrimitives.TryConvertTo<int>(SessionState.PSVariable.GetValue(LastExitCodeVariable), out var code) && code != 0 ? code : null;

    private static string Abbreviate(string text)
    {
        var oneLine = string.Join(' ', text.Split(new[] { '\r', '\n' }, StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()));
        return oneLine.Length > 40 ? oneLine[..40] + "..." : oneLine;
    }

    /// <summary>Engine events, queued to the pipeline thread; progress throttled to about one record a second per activity.</summary>
    private sealed class PipelineObserver
    {
        private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(1);
        private readonly RollbackCmdletBase cmdlet;
        private readonly BlockingCollection<Action> queue;
        private readonly Dictionary<string, (int Id, DateTime LastShown)> activities = new();

        public PipelineObserver(RollbackCmdletBase cmdlet, BlockingCollection<Action> queue)
        {
            this.cmdlet = cmdlet;
            this.queue = queue;
        }

        public IRollbackObserver ToEngineObserver() => new CallbackObserver(Progress, Verbose, Warning, ShouldProcessAsync, ShouldProcessAllAsync);

        public void Progress(ProgressUpdate update) => Post(() =>
        {
            var now = DateTime.UtcNow;
            var known = activities.TryGetValue(update.Activity, out var entry);
            if (!known)
            {
                entry = (activities.Count + 1, DateTime.MinValue);
            }

            if (update.Completed)
            {
                if (known)
                {
                    cmdlet.WriteProgress(new ProgressRecord(entry.Id, update.Activity, update.Status) { RecordType = ProgressRecordType.Completed });
                    activities.Remove(update.Activity);
                }

                return;
            }

            if (now - entry.LastShown < ProgressInterval && known)
            {
                return;
            }

            activities[update.Activity] = (entry.Id, now);
            cmdlet.WriteProgress(new ProgressRecord(entry.Id, update.Activity, update.Status)
            {
                PercentComplete = Math.Clamp(update.PercentComplete, -1, 100),
                SecondsRemaining = update.SecondsRemaining,
            });
        });

        public void Verbose(string message) => Post(() => cmdlet.WriteVerbose(message));

        public void Warning(string message) => Post(() => cmdlet.WriteWarning(message));

        public Task<bool> ShouldProcessAsync(string target, string action)
        {
            var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            Post(() =>
            {
                try
                {
                    answer.SetResult(cmdlet.ShouldProcess(target, action));
                }
                catch (Exception e)
                {
                    answer.SetException(e);
                }
            });
            return answer.Task;
        }

        /// <summary>Every step asked on the pipeline thread in one round trip (each asked, in order, after a "no" too).</summary>
        public Task<bool> ShouldProcessAllAsync(string target, IReadOnlyList<string> actions)
        {
            var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            Post(() =>
            {
                try
                {
                    var consented = true;
                    foreach (var action in actions)
                    {
                        consented &= cmdlet.ShouldProcess(target, action);
                    }

                    answer.SetResult(consented);
                }
                catch (Exception e)
                {
                    answer.SetException(e);
                }
            });
            return answer.Task;
        }

        /// <summary>Every progress bar the engine opened is closed, even when it failed half-way.</summary>
        public void CloseProgress()
        {
            foreach (var (activity, entry) in activities)
            {
                cmdlet.WriteProgress(new ProgressRecord(entry.Id, activity, "Done") { RecordType = ProgressRecordType.Completed });
            }

            activities.Clear();
        }

        private void Post(Action action)
        {
            try
            {
                queue.Add(action);
            }
            catch (InvalidOperationException)
            {
                // The engine finished and the queue is closed: a late message has nowhere to go.
            }
        }
    }
}
