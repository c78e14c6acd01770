namespace DeploymentRollback.Engine;

/// <summary>How the engine talks to its host (a cmdlet, a test): progress, messages, and consent for every change.</summary>
public interface IRollbackObserver
{
    void Progress(ProgressUpdate update);
    void Verbose(string message);
    void Warning(string message);

    /// <summary>Asked before every mutating step; false means the step must not run (-WhatIf, or the user said no).</summary>
    Task<bool> ShouldProcessAsync(string target, string action);

    /// <summary>
    /// Every step put to the host in one go, in order (each is still asked, after a "no" too, so -WhatIf lists them
    /// all); true only when every one was consented to. A host that answers on another thread overrides it to answer
    /// them in one round trip.
    /// </summary>
    Task<bool> ShouldProcessAllAsync(string target, IReadOnlyList<string> actions) => AskEachAsync(action => ShouldProcessAsync(target, action), actions);

    /// <summary>Each action asked in turn (after a "no" too); true only when every one was consented to.</summary>
    internal static async Task<bool> AskEachAsync(Func<string, Task<bool>> ask, IReadOnlyList<string> actions)
    {
        var consented = true;
        foreach (var action in actions)
        {
            consented &= await ask(action).ConfigureAwait(false);
        }

        return consented;
    }
}

public sealed record ProgressUpdate(string Activity, string Status, int PercentComplete = -1, int SecondsRemaining = -1, bool Completed = false);

/// <summary>An observer that says yes to everything and discards messages (tests, the demo's quiet steps).</summary>
public sealed class SilentObserver : IRollbackObserver
{
    public static readonly SilentObserver Instance = new();
    public void Progress(ProgressUpdate update) { }
    public void Verbose(string message) { }
    public void Warning(string message) { }
    public Task<bool> ShouldProcessAsync(string target, string action) => Task.FromResult(true);
}

/// <summary>What every engine entry point receives.</summary>
public sealed class EngineContext
{
    public EngineContext(StateRoot state, IRollbackObserver observer, CancellationToken cancellation)
    {
        State = state;
        Observer = observer;
        Cancellation = cancellation;
    }

    public StateRoot State { get; }
    public IRollbackObserver Observer { get; }
    public CancellationToken Cancellation { get; }

    /// <summary>
    /// A host's own strategies, asked before the catalog: a session for a target record the host defines, else null.
    /// (The tests run the engine's phases against an in-memory strategy this way.)
    /// </summary>
    public Func<RollbackRequest, EngineContext, IRollbackSession?>? HostStrategies { get; init; }

    /// <summary>Where people are told of this command's rollbacks (Teams, Slack, a JSON webhook, email).</summary>
    public IReadOnlyList<NotifyTarget> Notify { get; init; } = Array.Empty<NotifyTarget>();

    /// <summary>
    /// What the runs of one selection share (its workloads' one cluster client), or null outside a selection. Owned and
    /// disposed by the selection that made it; never kept beyond the command.
    /// </summary>
    public SharedResources? Shared { get; init; }

    /// <summary>The same context with another observer or cancellation (e.g. to finish recording after Ctrl+C).</summary>
    public EngineContext With(IRollbackObserver? observer = null, CancellationToken? cancellation = null, IReadOnlyList<NotifyTarget>? notify = null) =>
        new(State, observer ?? Observer, cancellation ?? Cancellation) { HostStrategies = HostStrategies, Notify = notify ?? Notify, Shared = Shared };

    /// <summary>The same context sharing the given resources between its runs.</summary>
    public EngineContext WithShared(SharedResources shared) =>
        new(State, Observer, Cancellation) { HostStrategies = HostStrategies, Notify = Notify, Shared = shared };
}

/// <summary>
/// Objects made once and used by several runs of one command, by key (a strategy's own key type): e.g. the parsed
/// kubeconfig and client of a 100-workload selection, instead of one each. Disposed with the command.
/// </summary>
public sealed class SharedResources : IDisposable
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<object, Lazy<object>> items = new();

    /// <summary>The object for the key, made by <paramref name="create"/> the first time (once, even when runs ask at once).</summary>
    public T GetOrAdd<T>(object key, Func<T> create)
        where T : class =>
        (T)items.GetOrAdd(key, _ => new Lazy<object>(() => create(), LazyThreadSafetyMode.ExecutionAndPublication)).Value;

    public void Dispose()
    {
        foreach (var item in items.Values)
        {
            if (item.IsValueCreated && item.Value is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }

        items.Clear();
    }
}

/// <summary>A restart step or smoke test: a host script block or an executable, reduced to one delegate.</summary>
public sealed class ScriptAction
{
    public ScriptAction(string name, Func<CancellationToken, Task<ScriptOutcome>> run)
    {
        // The name becomes a step name, a consent line and a report entry: a script block may hold a password.
        Name = SecretRedactor.Redact(name);
        Run = run;
    }

    public string Name { get; }
    public Func<CancellationToken, Task<ScriptOutcome>> Run { get; }

    /// <summary>An executable or script file run with an argument list (never through a shell string).</summary>
    public static ScriptAction FromFile(string path, IReadOnlyList<string>? arguments = null, TimeSpan? timeout = null, string? workingDirectory = null)
    {
        if (!File.Exists(path))
        {
            throw new RollbackException(ErrorIds.SmokeTestNotFound, RollbackErrorKind.ObjectNotFound,
                $"The script '{path}' does not exist. Give the full path of an executable or script, or a script block.");
        }

        var full = System.IO.Path.GetFullPath(path);
        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(full) & anyExecute) == 0)
        {
            // Refused now, before anything changes, rather than failing at the step as "exit code none".
            throw new RollbackException(ErrorIds.ScriptNotExecutable, RollbackErrorKind.InvalidArgument,
                $"'{full}' is not executable. Make it executable (chmod +x '{full}'), or pass a script block that runs it through its interpreter, such as {{ sh '{full}' }}.")
            {
                TargetName = full,
            };
        }

        return new ScriptAction(System.IO.Path.GetFileName(full), async token =>
        {
            var run = await ProcessRunner.RunAsync(
                new ProcessRequest(full, arguments ?? Array.Empty<string>()) { Timeout = timeout ?? TimeSpan.FromMinutes(5), WorkingDirectory = workingDirectory },
                token).ConfigureAwait(false);
            return new ScriptOutcome(run.ExitCode == 0 && !run.TimedOut, run.CombinedOutput, run.ExitCode);
        });
    }
}

public sealed record ScriptOutcome(bool Succeeded, string Output, int? ExitCode);

/// <summary>
/// An observer made of delegates. Hosts use it instead of implementing the interface, so their own types never
/// derive from engine types (which would force the engine to load before the host has set up its load context).
/// </summary>
public sealed class CallbackObserver : IRollbackObserver
{
    private readonly Action<ProgressUpdate> progress;
    private readonly Action<string> verbose;
    private readonly Action<string> warning;
    private readonly Func<string, string, Task<bool>> shouldProcess;
    private readonly Func<string, IReadOnlyList<string>, Task<bool>>? shouldProcessAll;

    public CallbackObserver(Action<ProgressUpdate> progress, Action<string> verbose, Action<string> warning, Func<string, string, Task<bool>> shouldProcess,
        Func<string, IReadOnlyList<string>, Task<bool>>? shouldProcessAll = null)
    {
        this.progress = progress;
        this.verbose = verbose;
        this.warning = warning;
        this.shouldProcess = shouldProcess;
        this.shouldProcessAll = shouldProcessAll;
    }

    // What reaches the host passes the redactor once more: a step or message may quote a commit subject, a pod's
    // environment or a command line that holds a secret.
    public void Progress(ProgressUpdate update) => progress(update);
    public void Verbose(string message) => verbose(SecretRedactor.Redact(message));
    public void Warning(string message) => warning(SecretRedactor.Redact(message));
    public Task<bool> ShouldProcessAsync(string target, string action) => shouldProcess(SecretRedactor.Redact(target), SecretRedactor.Redact(action));

    public Task<bool> ShouldProcessAllAsync(string target, IReadOnlyList<string> actions) =>
        shouldProcessAll?.Invoke(SecretRedactor.Redact(target), actions.Select(SecretRedactor.Redact).ToList())
        ?? IRollbackObserver.AskEachAsync(action => ShouldProcessAsync(target, action), actions);
}
