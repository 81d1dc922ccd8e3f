//! Who owns a name or an address: Microsoft (its registered domains and address blocks), and
//! which of Microsoft's names are consumer services. Feeds the `microsoft` column. The lists are
//! small data files compiled in (`data/`), parsed once.

use std::net::IpAddr;
use std::sync::OnceLock;

use crate::catalog::domain::{key_suffixes, normalized};
use crate::catalog::prefix::PrefixIndex;

// foldhash: a handful of short lookups per name, where SipHash would cost more than the work.
type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

const DOMAINS: &str = include_str!("data/microsoft-domains.txt");
const PREFIXES: &str = include_str!("data/microsoft-prefixes.txt");
const CONSUMER: &str = include_str!("data/consumer-domains.txt");

/// The `microsoft` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MicrosoftStatus {
    /// An endpoint set of the catalog matched.
    Listed,
    /// A Microsoft consumer service (Outlook.com, OneDrive personal, Skype) no set lists.
    Consumer,
    /// A Microsoft-owned name or address that no set lists.
    Unlisted,
    No,
}

impl MicrosoftStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MicrosoftStatus::Listed => "listed",
            MicrosoftStatus::Consumer => "consumer",
            MicrosoftStatus::Unlisted => "unlisted",
            MicrosoftStatus::No => "no",
        }
    }
}

pub struct Ownership {
    /// Looked up by each of a name's dot-separated suffixes: a few hash lookups per name
    /// instead of comparing it with every domain (a certificate brings dozens of names).
    domains: HashSet<String>,
    /// The most labels a domain of `domains` (of `consumer_domains`) has: a name's longer
    /// suffixes are never looked up (a 16 KB name off the wire has thousands).
    domain_labels: usize,
    consumer_domain_labels: usize,
    prefixes: PrefixIndex<()>,
    /// Consumer names without the names under them, and domains with them (`*.` lines).
    consumer_names: HashSet<String>,
    consumer_domains: HashSet<String>,
}

fn data_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

impl Ownership {
    /// The compiled-in lists.
    pub fn get() -> &'static Ownership {
        static OWNERSHIP: OnceLock<Ownership> = OnceLock::new();
        OWNERSHIP.get_or_init(|| {
            let mut prefixes = PrefixIndex::default();
            // The file is ours and checked by a test; a bad line is skipped, not fatal.
            for net in data_lines(PREFIXES).filter_map(|l| l.parse().ok()) {
                prefixes.insert(net, ());
            }
            let (domains, names): (Vec<&str>, Vec<&str>) =
                data_lines(CONSUMER).partition(|l| l.starts_with("*."));
            let consumer_domains: HashSet<String> = domains
                .into_iter()
                .map(|l| l.trim_start_matches("*.").to_owned())
                .collect();
            let domains: HashSet<String> = data_lines(DOMAINS).map(str::to_owned).collect();
            let most_labels =
                |set: &HashSet<String>| set.iter().map(|d| d.split('.').count()).max().unwrap_or(0);
            Ownership {
                domain_labels: most_labels(&domains),
                consumer_domain_labels: most_labels(&consumer_domains),
                domains,
                prefixes,
                consumer_names: names.into_iter().map(str::to_owned).collect(),
                consumer_domains,
            }
        })
    }

    /// Is `name` under a domain Microsoft owns?
    pub fn owns_name(&self, name: &str) -> bool {
        let name = normalized(name);
        // Bound before returning: the iterator borrows `name`, which the tail expression
        // would outlive.
        let owned = key_suffixes(&name, self.domain_labels).any(|n| self.domains.contains(n));
        owned
    }

    /// Is `addr` in an address block registered to Microsoft?
    pub fn owns_addr(&self, addr: IpAddr) -> bool {
        self.prefixes.lookup(addr).is_some()
    }

    /// Is `name` one of Microsoft's consumer services?
    pub fn consumer_name(&self, name: &str) -> bool {
        let name = normalized(name);
        // Bound before returning, as in `owns_name`.
        let consumer = self.consumer_names.contains(name.as_ref())
            || key_suffixes(&name, self.consumer_domain_labels)
                .any(|n| self.consumer_domains.contains(n));
        consumer
    }

    /// The `microsoft` column for a flow: `listed` when a catalog set matched, `consumer` for a
    /// consumer service's name, `unlisted` for another Microsoft name or a Microsoft address.
    pub fn status<'n>(
        &self,
        listed: bool,
        names: impl Iterator<Item = &'n str> + Clone,
        server: IpAddr,
    ) -> MicrosoftStatus {
        if listed {
            MicrosoftStatus::Listed
        } else if names.clone().any(|n| self.consumer_name(n)) {
            MicrosoftStatus::Consumer
        } else if names.into_iter().any(|n| self.owns_name(n)) || self.owns_addr(server) {
            MicrosoftStatus::Unlisted
        } else {
            MicrosoftStatus::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_data_line_parses() {
        let bad: Vec<&str> = data_lines(PREFIXES)
            .filter(|l| l.parse::<ipnet::IpNet>().is_err())
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
        for line in data_lines(DOMAINS).chain(data_lines(CONSUMER)) {
            let name = line.trim_start_matches("*.");
            assert!(
                !name.is_empty() && name == normalized(name) && !name.contains('*'),
                "{line:?}"
            );
        }
    }

    #[test]
    fn names_and_addresses() {
        let o = Ownership::get();
        assert!(o.owns_name("api.microsoftstream.com"));
        assert!(o.owns_name("Gate.HockeyApp.net."));
        assert!(!o.owns_name("notmicrosoft.com"));
        assert!(!o.owns_name("microsoft.com.phish.net"));
        // An Azure address outside the Microsoft 365 catalog (ocs.pcap in the nDPI corpus).
        assert!(o.owns_addr("137.135.131.52".parse().unwrap()));
        assert!(o.owns_addr("2603:1030::1".parse().unwrap()));
        assert!(!o.owns_addr("93.71.110.205".parse().unwrap()));
    }

    #[test]
    fn long_names_look_up_only_suffixes_that_can_be_listed() {
        let o = Ownership::get();
        // 32,000 one-letter labels (64 KB, as an SNI can carry): the same answers as for a
        // short name, from a few suffixes.
        let huge = "a.".repeat(32_000);
        assert!(o.owns_name(&format!("{huge}api.microsoftstream.com")));
        assert!(!o.owns_name(&format!("{huge}example.com")));
        assert!(o.consumer_name("outlook.live.com"));
        assert!(!o.consumer_name(&format!("{huge}outlook.live.com")));
        // `*.onedrive.live.com` is listed with the names under it.
        assert!(o.consumer_name(&format!("{huge}x.onedrive.live.com")));
        assert!(!o.consumer_name(&format!("{huge}x.live.com")));
    }

    #[test]
    fn consumer_services() {
        let o = Ownership::get();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let one = |n: &'static str| std::iter::once(n);
        assert!(o.consumer_name("outlook.com"));
        assert!(o.consumer_name("smtp.hotmail.com"));
        assert!(o.consumer_name("hotmail.com"));
        assert!(o.consumer_name("web.skype.com"));
        // Teams uses other skype.com names: not consumer by name alone.
        assert!(!o.consumer_name("eu-api.asm.skype.com"));
        assert!(!o.consumer_name("outlook.office365.com"));
        assert_eq!(
            o.status(false, one("outlook.live.com"), ip),
            MicrosoftStatus::Consumer
        );
        assert_eq!(
            o.status(true, one("outlook.live.com"), ip),
            MicrosoftStatus::Listed
        );
        assert_eq!(
            o.status(
                false,
                one("teams.example.org"),
                "52.187.20.175".parse().unwrap()
            ),
            MicrosoftStatus::Unlisted
        );
        assert_eq!(o.status(false, one("example.org"), ip), MicrosoftStatus::No);
    }
}
