/* iso3166.c - the complete ISO 3166-1 table (all 249 officially assigned alpha-2 codes with
 * their alpha-3 codes and English short names), common English alternative names, and ISO 3166-2
 * subdivision codes for the countries address normalisation covers (US states, districts and
 * outlying areas; Canadian provinces and territories; Australian states and territories;
 * German Länder; the nations of the United Kingdom).  Used by iso2(), iso3(), country(),
 * region() and postal() (runtime/map_fn.c).  Lookups ignore case, '.' and runs of white space. */
#include "syncrt/map.h"

#include <string.h>
#include <strings.h>

static const syncrt_country countries[] = {
    {"AF", "AFG", "Afghanistan"},
    {"AX", "ALA", "Åland Islands"},
    {"AL", "ALB", "Albania"},
    {"DZ", "DZA", "Algeria"},
    {"AS", "ASM", "American Samoa"},
    {"AD", "AND", "Andorra"},
    {"AO", "AGO", "Angola"},
    {"AI", "AIA", "Anguilla"},
    {"AQ", "ATA", "Antarctica"},
    {"AG", "ATG", "Antigua and Barbuda"},
    {"AR", "ARG", "Argentina"},
    {"AM", "ARM", "Armenia"},
    {"AW", "ABW", "Aruba"},
    {"AU", "AUS", "Australia"},
    {"AT", "AUT", "Austria"},
    {"AZ", "AZE", "Azerbaijan"},
    {"BS", "BHS", "Bahamas"},
    {"BH", "BHR", "Bahrain"},
    {"BD", "BGD", "Bangladesh"},
    {"BB", "BRB", "Barbados"},
    {"BY", "BLR", "Belarus"},
    {"BE", "BEL", "Belgium"},
    {"BZ", "BLZ", "Belize"},
    {"BJ", "BEN", "Benin"},
    {"BM", "BMU", "Bermuda"},
    {"BT", "BTN", "Bhutan"},
    {"BO", "BOL", "Bolivia"},
    {"BQ", "BES", "Bonaire, Sint Eustatius and Saba"},
    {"BA", "BIH", "Bosnia and Herzegovina"},
    {"BW", "BWA", "Botswana"},
    {"BV", "BVT", "Bouvet Island"},
    {"BR", "BRA", "Brazil"},
    {"IO", "IOT", "British Indian Ocean Territory"},
    {"BN", "BRN", "Brunei Darussalam"},
    {"BG", "BGR", "Bulgaria"},
    {"BF", "BFA", "Burkina Faso"},
    {"BI", "BDI", "Burundi"},
    {"CV", "CPV", "Cabo Verde"},
    {"KH", "KHM", "Cambodia"},
    {"CM", "CMR", "Cameroon"},
    {"CA", "CAN", "Canada"},
    {"KY", "CYM", "Cayman Islands"},
    {"CF", "CAF", "Central African Republic"},
    {"TD", "TCD", "Chad"},
    {"CL", "CHL", "Chile"},
    {"CN", "CHN", "China"},
    {"CX", "CXR", "Christmas Island"},
    {"CC", "CCK", "Cocos (Keeling) Islands"},
    {"CO", "COL", "Colombia"},
    {"KM", "COM", "Comoros"},
    {"CG", "COG", "Congo"},
    {"CD", "COD", "Congo, Democratic Republic of the"},
    {"CK", "COK", "Cook Islands"},
    {"CR", "CRI", "Costa Rica"},
    {"CI", "CIV", "Côte d'Ivoire"},
    {"HR", "HRV", "Croatia"},
    {"CU", "CUB", "Cuba"},
    {"CW", "CUW", "Curaçao"},
    {"CY", "CYP", "Cyprus"},
    {"CZ", "CZE", "Czechia"},
    {"DK", "DNK", "Denmark"},
    {"DJ", "DJI", "Djibouti"},
    {"DM", "DMA", "Dominica"},
    {"DO", "DOM", "Dominican Republic"},
    {"EC", "ECU", "Ecuador"},
    {"EG", "EGY", "Egypt"},
    {"SV", "SLV", "El Salvador"},
    {"GQ", "GNQ", "Equatorial Guinea"},
    {"ER", "ERI", "Eritrea"},
    {"EE", "EST", "Estonia"},
    {"SZ", "SWZ", "Eswatini"},
    {"ET", "ETH", "Ethiopia"},
    {"FK", "FLK", "Falkland Islands (Malvinas)"},
    {"FO", "FRO", "Faroe Islands"},
    {"FJ", "FJI", "Fiji"},
    {"FI", "FIN", "Finland"},
    {"FR", "FRA", "France"},
    {"GF", "GUF", "French Guiana"},
    {"PF", "PYF", "French Polynesia"},
    {"TF", "ATF", "French Southern Territories"},
    {"GA", "GAB", "Gabon"},
    {"GM", "GMB", "Gambia"},
    {"GE", "GEO", "Georgia"},
    {"DE", "DEU", "Germany"},
    {"GH", "GHA", "Ghana"},
    {"GI", "GIB", "Gibraltar"},
    {"GR", "GRC", "Greece"},
    {"GL", "GRL", "Greenland"},
    {"GD", "GRD", "Grenada"},
    {"GP", "GLP", "Guadeloupe"},
    {"GU", "GUM", "Guam"},
    {"GT", "GTM", "Guatemala"},
    {"GG", "GGY", "Guernsey"},
    {"GN", "GIN", "Guinea"},
    {"GW", "GNB", "Guinea-Bissau"},
    {"GY", "GUY", "Guyana"},
    {"HT", "HTI", "Haiti"},
    {"HM", "HMD", "Heard Island and McDonald Islands"},
    {"VA", "VAT", "Holy See"},
    {"HN", "HND", "Honduras"},
    {"HK", "HKG", "Hong Kong"},
    {"HU", "HUN", "Hungary"},
    {"IS", "ISL", "Iceland"},
    {"IN", "IND", "India"},
    {"ID", "IDN", "Indonesia"},
    {"IR", "IRN", "Iran"},
    {"IQ", "IRQ", "Iraq"},
    {"IE", "IRL", "Ireland"},
    {"IM", "IMN", "Isle of Man"},
    {"IL", "ISR", "Israel"},
    {"IT", "ITA", "Italy"},
    {"JM", "JAM", "Jamaica"},
    {"JP", "JPN", "Japan"},
    {"JE", "JEY", "Jersey"},
    {"JO", "JOR", "Jordan"},
    {"KZ", "KAZ", "Kazakhstan"},
    {"KE", "KEN", "Kenya"},
    {"KI", "KIR", "Kiribati"},
    {"KP", "PRK", "Korea, Democratic People's Republic of"},
    {"KR", "KOR", "Korea, Republic of"},
    {"KW", "KWT", "Kuwait"},
    {"KG", "KGZ", "Kyrgyzstan"},
    {"LA", "LAO", "Lao People's Democratic Republic"},
    {"LV", "LVA", "Latvia"},
    {"LB", "LBN", "Lebanon"},
    {"LS", "LSO", "Lesotho"},
    {"LR", "LBR", "Liberia"},
    {"LY", "LBY", "Libya"},
    {"LI", "LIE", "Liechtenstein"},
    {"LT", "LTU", "Lithuania"},
    {"LU", "LUX", "Luxembourg"},
    {"MO", "MAC", "Macao"},
    {"MG", "MDG", "Madagascar"},
    {"MW", "MWI", "Malawi"},
    {"MY", "MYS", "Malaysia"},
    {"MV", "MDV", "Maldives"},
    {"ML", "MLI", "Mali"},
    {"MT", "MLT", "Malta"},
    {"MH", "MHL", "Marshall Islands"},
    {"MQ", "MTQ", "Martinique"},
    {"MR", "MRT", "Mauritania"},
    {"MU", "MUS", "Mauritius"},
    {"YT", "MYT", "Mayotte"},
    {"MX", "MEX", "Mexico"},
    {"FM", "FSM", "Micronesia"},
    {"MD", "MDA", "Moldova"},
    {"MC", "MCO", "Monaco"},
    {"MN", "MNG", "Mongolia"},
    {"ME", "MNE", "Montenegro"},
    {"MS", "MSR", "Montserrat"},
    {"MA", "MAR", "Morocco"},
    {"MZ", "MOZ", "Mozambique"},
    {"MM", "MMR", "Myanmar"},
    {"NA", "NAM", "Namibia"},
    {"NR", "NRU", "Nauru"},
    {"NP", "NPL", "Nepal"},
    {"NL", "NLD", "Netherlands"},
    {"NC", "NCL", "New Caledonia"},
    {"NZ", "NZL", "New Zealand"},
    {"NI", "NIC", "Nicaragua"},
    {"NE", "NER", "Niger"},
    {"NG", "NGA", "Nigeria"},
    {"NU", "NIU", "Niue"},
    {"NF", "NFK", "Norfolk Island"},
    {"MK", "MKD", "North Macedonia"},
    {"MP", "MNP", "Northern Mariana Islands"},
    {"NO", "NOR", "Norway"},
    {"OM", "OMN", "Oman"},
    {"PK", "PAK", "Pakistan"},
    {"PW", "PLW", "Palau"},
    {"PS", "PSE", "Palestine, State of"},
    {"PA", "PAN", "Panama"},
    {"PG", "PNG", "Papua New Guinea"},
    {"PY", "PRY", "Paraguay"},
    {"PE", "PER", "Peru"},
    {"PH", "PHL", "Philippines"},
    {"PN", "PCN", "Pitcairn"},
    {"PL", "POL", "Poland"},
    {"PT", "PRT", "Portugal"},
    {"PR", "PRI", "Puerto Rico"},
    {"QA", "QAT", "Qatar"},
    {"RE", "REU", "Réunion"},
    {"RO", "ROU", "Romania"},
    {"RU", "RUS", "Russian Federation"},
    {"RW", "RWA", "Rwanda"},
    {"BL", "BLM", "Saint Barthélemy"},
    {"SH", "SHN", "Saint Helena, Ascension and Tristan da Cunha"},
    {"KN", "KNA", "Saint Kitts and Nevis"},
    {"LC", "LCA", "Saint Lucia"},
    {"MF", "MAF", "Saint Martin (French part)"},
    {"PM", "SPM", "Saint Pierre and Miquelon"},
    {"VC", "VCT", "Saint Vincent and the Grenadines"},
    {"WS", "WSM", "Samoa"},
    {"SM", "SMR", "San Marino"},
    {"ST", "STP", "Sao Tome and Principe"},
    {"SA", "SAU", "Saudi Arabia"},
    {"SN", "SEN", "Senegal"},
    {"RS", "SRB", "Serbia"},
    {"SC", "SYC", "Seychelles"},
    {"SL", "SLE", "Sierra Leone"},
    {"SG", "SGP", "Singapore"},
    {"SX", "SXM", "Sint Maarten (Dutch part)"},
    {"SK", "SVK", "Slovakia"},
    {"SI", "SVN", "Slovenia"},
    {"SB", "SLB", "Solomon Islands"},
    {"SO", "SOM", "Somalia"},
    {"ZA", "ZAF", "South Africa"},
    {"GS", "SGS", "South Georgia and the South Sandwich Islands"},
    {"SS", "SSD", "South Sudan"},
    {"ES", "ESP", "Spain"},
    {"LK", "LKA", "Sri Lanka"},
    {"SD", "SDN", "Sudan"},
    {"SR", "SUR", "Suriname"},
    {"SJ", "SJM", "Svalbard and Jan Mayen"},
    {"SE", "SWE", "Sweden"},
    {"CH", "CHE", "Switzerland"},
    {"SY", "SYR", "Syrian Arab Republic"},
    {"TW", "TWN", "Taiwan"},
    {"TJ", "TJK", "Tajikistan"},
    {"TZ", "TZA", "Tanzania"},
    {"TH", "THA", "Thailand"},
    {"TL", "TLS", "Timor-Leste"},
    {"TG", "TGO", "Togo"},
    {"TK", "TKL", "Tokelau"},
    {"TO", "TON", "Tonga"},
    {"TT", "TTO", "Trinidad and Tobago"},
    {"TN", "TUN", "Tunisia"},
    {"TR", "TUR", "Türkiye"},
    {"TM", "TKM", "Turkmenistan"},
    {"TC", "TCA", "Turks and Caicos Islands"},
    {"TV", "TUV", "Tuvalu"},
    {"UG", "UGA", "Uganda"},
    {"UA", "UKR", "Ukraine"},
    {"AE", "ARE", "United Arab Emirates"},
    {"GB", "GBR", "United Kingdom"},
    {"US", "USA", "United States"},
    {"UM", "UMI", "United States Minor Outlying Islands"},
    {"UY", "URY", "Uruguay"},
    {"UZ", "UZB", "Uzbekistan"},
    {"VU", "VUT", "Vanuatu"},
    {"VE", "VEN", "Venezuela"},
    {"VN", "VNM", "Viet Nam"},
    {"VG", "VGB", "Virgin Islands (British)"},
    {"VI", "VIR", "Virgin Islands (U.S.)"},
    {"WF", "WLF", "Wallis and Futuna"},
    {"EH", "ESH", "Western Sahara"},
    {"YE", "YEM", "Yemen"},
    {"ZM", "ZMB", "Zambia"},
    {"ZW", "ZWE", "Zimbabwe"},
};

static const struct { const char *name, *alpha2; } aliases[] = {
    {"United States of America", "US"},
    {"America", "US"},
    {"UK", "GB"},
    {"Great Britain", "GB"},
    {"United Kingdom of Great Britain and Northern Ireland", "GB"},
    {"Russia", "RU"},
    {"South Korea", "KR"},
    {"North Korea", "KP"},
    {"Vietnam", "VN"},
    {"Turkey", "TR"},
    {"Czech Republic", "CZ"},
    {"Iran, Islamic Republic of", "IR"},
    {"Bolivia, Plurinational State of", "BO"},
    {"Venezuela, Bolivarian Republic of", "VE"},
    {"Tanzania, United Republic of", "TZ"},
    {"Taiwan, Province of China", "TW"},
    {"Moldova, Republic of", "MD"},
    {"Micronesia, Federated States of", "FM"},
    {"Syria", "SY"},
    {"Laos", "LA"},
    {"Brunei", "BN"},
    {"Macedonia", "MK"},
    {"Swaziland", "SZ"},
    {"Cape Verde", "CV"},
    {"Ivory Coast", "CI"},
    {"Cote d'Ivoire", "CI"},
    {"Curacao", "CW"},
    {"Reunion", "RE"},
    {"Aland Islands", "AX"},
    {"Saint Barthelemy", "BL"},
    {"Democratic Republic of the Congo", "CD"},
    {"Vatican", "VA"},
    {"Vatican City", "VA"},
    {"Burma", "MM"},
    {"East Timor", "TL"},
    {"Palestine", "PS"},
    {"Turkiye", "TR"},
    {"Netherlands, Kingdom of the", "NL"},
    {"Holland", "NL"},
    {"Republic of Korea", "KR"},
    {"Hong Kong SAR", "HK"},
    {"Macau", "MO"},
    {"Falkland Islands", "FK"},
    {"Congo, Republic of the", "CG"},
};

typedef struct region { const char *country, *code, *name; } region;

static const region regions[] = {
    {"US", "AL", "Alabama"},
    {"US", "AK", "Alaska"},
    {"US", "AZ", "Arizona"},
    {"US", "AR", "Arkansas"},
    {"US", "CA", "California"},
    {"US", "CO", "Colorado"},
    {"US", "CT", "Connecticut"},
    {"US", "DE", "Delaware"},
    {"US", "FL", "Florida"},
    {"US", "GA", "Georgia"},
    {"US", "HI", "Hawaii"},
    {"US", "ID", "Idaho"},
    {"US", "IL", "Illinois"},
    {"US", "IN", "Indiana"},
    {"US", "IA", "Iowa"},
    {"US", "KS", "Kansas"},
    {"US", "KY", "Kentucky"},
    {"US", "LA", "Louisiana"},
    {"US", "ME", "Maine"},
    {"US", "MD", "Maryland"},
    {"US", "MA", "Massachusetts"},
    {"US", "MI", "Michigan"},
    {"US", "MN", "Minnesota"},
    {"US", "MS", "Mississippi"},
    {"US", "MO", "Missouri"},
    {"US", "MT", "Montana"},
    {"US", "NE", "Nebraska"},
    {"US", "NV", "Nevada"},
    {"US", "NH", "New Hampshire"},
    {"US", "NJ", "New Jersey"},
    {"US", "NM", "New Mexico"},
    {"US", "NY", "New York"},
    {"US", "NC", "North Carolina"},
    {"US", "ND", "North Dakota"},
    {"US", "OH", "Ohio"},
    {"US", "OK", "Oklahoma"},
    {"US", "OR", "Oregon"},
    {"US", "PA", "Pennsylvania"},
    {"US", "RI", "Rhode Island"},
    {"US", "SC", "South Carolina"},
    {"US", "SD", "South Dakota"},
    {"US", "TN", "Tennessee"},
    {"US", "TX", "Texas"},
    {"US", "UT", "Utah"},
    {"US", "VT", "Vermont"},
    {"US", "VA", "Virginia"},
    {"US", "WA", "Washington"},
    {"US", "WV", "West Virginia"},
    {"US", "WI", "Wisconsin"},
    {"US", "WY", "Wyoming"},
    {"US", "DC", "District of Columbia"},
    {"US", "AS", "American Samoa"},
    {"US", "GU", "Guam"},
    {"US", "MP", "Northern Mariana Islands"},
    {"US", "PR", "Puerto Rico"},
    {"US", "UM", "United States Minor Outlying Islands"},
    {"US", "VI", "Virgin Islands, U.S."},
    {"CA", "AB", "Alberta"},
    {"CA", "BC", "British Columbia"},
    {"CA", "MB", "Manitoba"},
    {"CA", "NB", "New Brunswick"},
    {"CA", "NL", "Newfoundland and Labrador"},
    {"CA", "NS", "Nova Scotia"},
    {"CA", "ON", "Ontario"},
    {"CA", "PE", "Prince Edward Island"},
    {"CA", "QC", "Quebec"},
    {"CA", "SK", "Saskatchewan"},
    {"CA", "NT", "Northwest Territories"},
    {"CA", "NU", "Nunavut"},
    {"CA", "YT", "Yukon"},
    {"AU", "ACT", "Australian Capital Territory"},
    {"AU", "NSW", "New South Wales"},
    {"AU", "NT", "Northern Territory"},
    {"AU", "QLD", "Queensland"},
    {"AU", "SA", "South Australia"},
    {"AU", "TAS", "Tasmania"},
    {"AU", "VIC", "Victoria"},
    {"AU", "WA", "Western Australia"},
    {"DE", "BW", "Baden-Württemberg"},
    {"DE", "BY", "Bayern"},
    {"DE", "BE", "Berlin"},
    {"DE", "BB", "Brandenburg"},
    {"DE", "HB", "Bremen"},
    {"DE", "HH", "Hamburg"},
    {"DE", "HE", "Hessen"},
    {"DE", "MV", "Mecklenburg-Vorpommern"},
    {"DE", "NI", "Niedersachsen"},
    {"DE", "NW", "Nordrhein-Westfalen"},
    {"DE", "RP", "Rheinland-Pfalz"},
    {"DE", "SL", "Saarland"},
    {"DE", "SN", "Sachsen"},
    {"DE", "ST", "Sachsen-Anhalt"},
    {"DE", "SH", "Schleswig-Holstein"},
    {"DE", "TH", "Thüringen"},
    {"GB", "ENG", "England"},
    {"GB", "SCT", "Scotland"},
    {"GB", "WLS", "Wales"},
    {"GB", "NIR", "Northern Ireland"},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Fold s into buf: ASCII lower case, '.' dropped, white space runs as one space, trimmed. */
static size_t fold(const char *s, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    bool sp = false;
    for (size_t i = 0; i < n && o < size - 1; i++) {
        char ch = s[i];
        if (ch == '.')
            continue;
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            sp = o > 0;
            continue;
        }
        if (sp && o < size - 1)
            buf[o++] = ' ';
        sp = false;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        buf[o++] = ch;
    }
    buf[o] = 0;
    return o;
}

/* Table names have single spaces; the few with '.' are folded before comparing. */
static bool same(const char *name, const char *folded)
{
    if (!strchr(name, '.'))
        return !strcasecmp(name, folded);
    char b[128];
    fold(name, strlen(name), b, sizeof b);
    return !strcmp(b, folded);
}

const syncrt_country *syncrt_country_find(const char *s, size_t n)
{
    char f[128];
    if (n >= sizeof f)
        return NULL;
    size_t fl = fold(s, n, f, sizeof f);
    if (fl == 0)
        return NULL;
    for (size_t i = 0; i < COUNT(countries); i++) {
        const syncrt_country *k = &countries[i];
        if (fl == 2) {
            if (k->alpha2[0] == f[0] - 32 && k->alpha2[1] == f[1] - 32)
                return k;
        } else if (fl == 3) {
            if (k->alpha3[0] == f[0] - 32 && k->alpha3[1] == f[1] - 32 && k->alpha3[2] == f[2] - 32)
                return k;
        }
    }
    for (size_t i = 0; i < COUNT(countries); i++)
        if (same(countries[i].name, f))
            return &countries[i];
    for (size_t i = 0; i < COUNT(aliases); i++)
        if (same(aliases[i].name, f))
            return syncrt_country_find(aliases[i].alpha2, 2);
    return NULL;
}

size_t syncrt_country_count(void) { return COUNT(countries); }

const syncrt_country *syncrt_country_at(size_t i)
{
    return i < COUNT(countries) ? &countries[i] : NULL;
}

const char *syncrt_region_find(const char *alpha2, const char *s, size_t n)
{
    char f[128];
    if (n >= sizeof f)
        return NULL;
    size_t fl = fold(s, n, f, sizeof f);
    /* "US-CA" style codes carry the country prefix */
    if (fl > 3 && f[2] == '-' && (f[0] == alpha2[0] + 32) && (f[1] == alpha2[1] + 32))
        memmove(f, f + 3, fl - 2);
    for (size_t i = 0; i < COUNT(regions); i++) {
        const region *r = &regions[i];
        if (strcmp(r->country, alpha2))
            continue;
        if (same(r->code, f) || same(r->name, f))
            return r->code;
    }
    return NULL;
}
