//! Microsoft's endpoint web-service JSON, field for field (see ../shared/catalog/SOURCES.md).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawEndpointSet {
    pub id: i64,
    pub service_area: Option<String>,
    #[serde(default)]
    pub service_area_display_name: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub ips: Vec<String>,
    #[serde(default)]
    pub tcp_ports: Option<String>,
    #[serde(default)]
    pub udp_ports: Option<String>,
    #[serde(default)]
    pub express_route: Option<bool>,
    pub category: Option<String>,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default)]
    pub notes: Option<String>,
}
