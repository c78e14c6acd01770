using System.Data.Common;
using System.Globalization;
using System.Net;
using Azure.Identity;
using Azure.Storage;
using Azure.Storage.Blobs;
using Npgsql;

namespace DeploymentRollback.Engine;

/// <summary>
/// Which shared store to use, from -StateStore or $env:DEPLOYMENT_ROLLBACK_STATE: a postgresql:// URI or an Npgsql
/// connection string, or a blob container URL or an Azure Storage connection string. Credentials come from the
/// address, the environment (PGPASSWORD, AZURE_STORAGE_KEY), -StateStoreCredential, or Azure identity (managed
/// identity in Azure Automation); they are never shown: <see cref="Location"/> is the address without them.
/// </summary>
public sealed class StateStoreAddress
{
    public const string EnvironmentVariable = "DEPLOYMENT_ROLLBACK_STATE";
    public const string CheckpointLimitVariable = "DEPLOYMENT_ROLLBACK_CHECKPOINT_LIMIT_MB";
    public const string DefaultContainer = "deployment-rollback";
    private const long DefaultCheckpointLimitMB = 64;

    private readonly Func<long, StateStore> open;

    private StateStoreAddress(string kind, string location, Func<long, StateStore> open)
    {
        Kind = kind;
        Location = location;
        this.open = open;
    }

    public string Kind { get; }
    public string Location { get; }

    /// <summary>The explicit address, else the environment's; null means the local folder.</summary>
    public static StateStoreAddress? Resolve(string? explicitAddress, NetworkCredential? credential)
    {
        var text = string.IsNullOrWhiteSpace(explicitAddress) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : explicitAddress;
        return string.IsNullOrWhiteSpace(text) ? null : Parse(text.Trim(), credential);
    }

    public static StateStoreAddress Parse(string text, NetworkCredential? credential)
    {
        try
        {
            if (text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase))
            {
                return Postgres(FromUri(new Uri(text)), credential);
            }

            if (text.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            {
                return BlobFromUrl(new Uri(text), credential);
            }

            var keys = new DbConnectionStringBuilder { ConnectionString = text };
            if (keys.ContainsKey("AccountName") || keys.ContainsKey("BlobEndpoint") || keys.ContainsKey("UseDevelopmentStorage"))
            {
                return BlobFromConnectionString(text);
            }

            if (keys.ContainsKey("Host") || keys.ContainsKey("Server"))
            {
                return Postgres(new NpgsqlConnectionStringBuilder(text), credential);
            }
        }
        catch (Exception e) when (e is ArgumentException or UriFormatException or FormatException or KeyNotFoundException)
        {
            throw Invalid($"it cannot be read ({SecretRedactor.Redact(e.Message)})", e);
        }

        throw Invalid("it is neither a postgresql:// address, an Npgsql connection string (Host=...), a blob container URL (https://<account>.blob.core.windows.net/<container>) nor an Azure Storage connection string (AccountName=...)", null);
    }

    private long? checkpointLimitBytes;

    public StateStore Open() => open(checkpointLimitBytes ?? CheckpointLimitBytes());

    /// <summary>The same store with another per-checkpoint cap than the environment's or the default.</summary>
    public StateStoreAddress WithCheckpointLimit(long bytes) => new(Kind, Location, open) { checkpointLimitBytes = bytes };

    private static long CheckpointLimitBytes()
    {
        var text = Environment.GetEnvironmentVariable(CheckpointLimitVariable);
        return (text is not null && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var mb) && mb > 0 ? mb : DefaultCheckpointLimitMB) * 1024 * 1024 is var bytes ? (long)bytes : 0;
    }

    private static RollbackException Invalid(string why, Exception? inner) => new(ErrorIds.StateStoreInvalid, RollbackErrorKind.InvalidArgument,
        $"The state store address (-StateStore or ${EnvironmentVariable}) is not usable: {why}. Pass e.g. postgresql://user@host:5432/db or https://<account>.blob.core.windows.net/<container>.", inner);

    private static NpgsqlConnectionStringBuilder FromUri(Uri uri)
    {
        var settings = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        };
        settings.Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : null;
        if (uri.UserInfo.Length > 0)
        {
            var parts = uri.UserInfo.Split(':', 2);
            settings.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                settings.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(kv[0]);
            var value = kv.Length == 2 ? Uri.UnescapeDataString(kv[1]) : "";
            // libpq's names for the common options; Npgsql's own names work as they are.
            settings[key.ToLowerInvariant() switch { "sslmode" => "SSL Mode", "connect_timeout" => "Timeout", "application_name" => "Application Name", _ => key }] = value;
        }

        return settings;
    }

    private static StateStoreAddress Postgres(NpgsqlConnectionStringBuilder settings, NetworkCredential? credential)
    {
        if (string.IsNullOrEmpty(settings.Host))
        {
            throw Invalid("it names no PostgreSQL host", null);
        }

        if (credential is not null)
        {
            settings.Username = string.IsNullOrEmpty(credential.UserName) ? settings.Username : credential.UserName;
            settings.Password = credential.Password;
        }

        settings.Username ??= Environment.GetEnvironmentVariable("PGUSER") ?? Environment.UserName;
        settings.Password ??= Environment.GetEnvironmentVariable("PGPASSWORD");
        settings.Database ??= Environment.GetEnvironmentVariable("PGDATABASE") ?? settings.Username;
        var location = $"postgresql://{settings.Username}@{settings.Host}:{settings.Port}/{settings.Database}";
        return new StateStoreAddress("PostgreSQL", location, limit => new PostgresStateStore(settings, limit));
    }

    private static StateStoreAddress BlobFromUrl(Uri url, NetworkCredential? credential)
    {
        var builder = new BlobUriBuilder(url);
        if (string.IsNullOrEmpty(builder.BlobContainerName))
        {
            throw Invalid("the URL names no container (https://<account>.blob.core.windows.net/<container>)", null);
        }

        var hasSas = builder.Sas is not null;
        var bare = new BlobUriBuilder(url) { Sas = null, Query = "" }.ToUri();
        var location = bare.GetLeftPart(UriPartial.Path);
        var options = Options();
        var accountKey = credential?.Password is { Length: > 0 } password ? password : Environment.GetEnvironmentVariable("AZURE_STORAGE_KEY");
        var accountName = credential?.UserName is { Length: > 0 } user ? user : builder.AccountName;
        Func<long, StateStore> open = hasSas
            ? limit => new BlobStateStore(new BlobContainerClient(url, options), location, limit)
            : accountKey is { Length: > 0 }
                ? limit => new BlobStateStore(new BlobContainerClient(bare, new StorageSharedKeyCredential(accountName, accountKey), options), location, limit)
                : limit => new BlobStateStore(new BlobContainerClient(bare, new DefaultAzureCredential(new DefaultAzureCredentialOptions { ExcludeInteractiveBrowserCredential = true }), options), location, limit);
        return new StateStoreAddress("AzureBlob", location, open);
    }

    private static StateStoreAddress BlobFromConnectionString(string text)
    {
        // The container is not part of an Azure Storage connection string: this module accepts Container=<name> in it.
        // (Split by hand: a key's base64 holds '=' and '/', which a generic builder would quote and Azure then rejects.)
        var parts = text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        const string ContainerKey = "container=";
        var named = parts.FirstOrDefault(p => p.StartsWith(ContainerKey, StringComparison.OrdinalIgnoreCase));
        var container = named is null || named.Length == ContainerKey.Length ? DefaultContainer : named[ContainerKey.Length..];
        var connectionString = string.Join(';', parts.Where(p => p != named));
        var location = new BlobContainerClient(connectionString, container).Uri.GetLeftPart(UriPartial.Path);
        return new StateStoreAddress("AzureBlob", location, limit => new BlobStateStore(new BlobContainerClient(connectionString, container, Options()), location, limit));
    }

    /// <summary>Few, quick retries: an unreachable store should fail a run in seconds, not minutes.</summary>
    private static BlobClientOptions Options()
    {
        var options = new BlobClientOptions();
        options.Retry.MaxRetries = 2;
        options.Retry.Delay = TimeSpan.FromMilliseconds(200);
        options.Retry.NetworkTimeout = TimeSpan.FromSeconds(10);
        return options;
    }
}
