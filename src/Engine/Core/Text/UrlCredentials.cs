using System.Net.Http.Headers;
using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// Addresses that carry credentials (https://user:password@host/?token=...): how they are sent, and how they are
/// shown or recorded. HttpClient drops user info from a URI, so it is sent as Basic authentication, as curl does.
/// </summary>
public static class UrlCredentials
{
    // Query names that hold a secret although their name alone does not say so (Azure SAS sig, OAuth code, HMAC).
    private static readonly HashSet<string> SecretQueryNames = new(StringComparer.OrdinalIgnoreCase) { "sig", "signature", "code", "key", "auth", "hmac" };

    /// <summary>The address without user info, and the user info as a Basic Authorization header (null when there is none).</summary>
    public static (Uri Address, AuthenticationHeaderValue? Authorization) Split(Uri uri) =>
        !uri.IsAbsoluteUri || uri.UserInfo.Length == 0
            ? (uri, null)
            : (WithoutUserInfo(uri), new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(uri.UserInfo)))));

    public static Uri WithoutUserInfo(Uri uri) =>
        !uri.IsAbsoluteUri || uri.UserInfo.Length == 0 ? uri : new UriBuilder(uri) { UserName = "", Password = "" }.Uri;

    /// <summary>
    /// A webhook's address as it may be shown: its kind and host alone. A webhook's path is often its secret (Slack's
    /// /services/T.../B.../token, a Teams workflow's signature), which no name in it announces.
    /// </summary>
    public static string DescribeHost(Uri uri) =>
        !uri.IsAbsoluteUri || uri.Authority.Length == 0 ? "(an address that is not a URL)"
        : uri.PathAndQuery is "/" or "" ? $"{uri.Scheme}://{uri.Authority}" : $"{uri.Scheme}://{uri.Authority}/...";

    /// <summary>An address as it may be shown or logged: user info and secret-looking query values masked.</summary>
    public static string Describe(Uri uri)
    {
        if (!uri.IsAbsoluteUri)
        {
            return SecretRedactor.Redact(uri.OriginalString);
        }

        var userInfo = uri.UserInfo.Length > 0 ? SecretRedactor.Mask + "@" : "";
        var query = uri.Query.Length <= 1 ? "" : "?" + string.Join('&', uri.Query[1..].Split('&').Select(pair =>
        {
            var name = pair.Split('=', 2)[0];
            var unescaped = Uri.UnescapeDataString(name);
            return pair.Contains('=') && (SecretRedactor.IsSecretKey(unescaped) || SecretQueryNames.Contains(unescaped)) ? name + "=" + SecretRedactor.Mask : pair;
        }));
        return $"{uri.Scheme}://{userInfo}{uri.Authority}{uri.AbsolutePath}{query}";
    }
}
